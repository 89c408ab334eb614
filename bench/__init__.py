"""`make bench`: the real operator against N ServiceAccountBindings, as ratios against the floor.

The floor (:mod:`bench.floor`) is what a platform team would write instead of an operator: a
plain asyncio script with the same libraries that, per binding, does exactly one exchange with
the token service, one Secret create and one status patch, at the operator's
``--max-concurrent-exchanges`` (16 unless ``--operator-arg`` sets it). Both run as child
processes, measured the same way, against the same API server and peers, on the same N, in the
same run, each on fresh bindings in namespaces of its own (the operator's first, then, once it
is stopped, the floor's: the operator watches every namespace).

For each size N, on 127.0.0.1 (a fresh Kubernetes API emulator from ``support/kube``, moto
as AWS STS and the Phase-protocol peer, both peers shared by every size):

* first issue, operator and floor: seconds from process start to the first binding Ready and
  to all Ready (Ready=True/TokenIssued for the current generation, and a Secret with a token),
  peak RSS (``VmHWM`` from /proc, read while the process is alive), CPU time, Kubernetes API
  requests per binding by verb and resource, token-service exchanges per binding;
* restart (operator): SIGTERM, start again, seconds until every binding's daemon read its
  Secret back; API requests per binding, and how many new exchanges it caused (0 = no re-mint);
* refresh (operator; ``--refresh-ttl``, 0 skips it): every binding's ``spec.ttl`` is lowered
  (one re-exchange each), then one refresh cycle is watched: when each token was replaced (as
  a share of its TTL), the least lifetime left, whether any expired, API requests per refresh.

Ratios are operator / floor; nothing is asserted about them. The emulator and peers run inside
this process, so on a small machine they compete with both programs for CPU: the bench's CPU
during the operator's pass is printed too. To keep the test servers from setting the pace
(:mod:`bench.servers`) the emulator skips KMock's per-request reaction matching and the Phase
peer pools its connections to moto; ``--stock-emulator`` / ``--stock-peers`` turn that off.

API requests are counted from the emulator's call log. With ``--kubeconfig PATH`` the bench
runs against a real cluster instead (:mod:`bench.realcluster`): the peers, the operator and the
floor still run here, the CRDs must already be installed (``kubectl apply -f crds/``; checked
first, as are reachability, an empty cluster and leftovers of earlier runs), and requests are
counted by a local proxy in front of the API server (:mod:`bench.proxy`, which says why a
proxy). Readiness is polled once a second there, so its times are good to about a second.
``python -m bench.standin KUBECONFIG`` serves the emulator in a process of its own, to try
that mode without a cluster.

    .venv/bin/python -m bench                          # N = 100, 1000: about 2-3 min, 2 CPUs
    .venv/bin/python -m bench --sizes 50,200           # quick: about 1.5 min
    .venv/bin/python -m bench --sizes 1000,3000,5000 --timeout 900 --refresh-ttl 300
    .venv/bin/python -m bench --sizes 100 --operator-arg=--max-concurrent-exchanges=4
    .venv/bin/python -m bench --kubeconfig ~/.kube/kind-bench --sizes 100,1000

Large N on 2 CPUs: at N=1000 here the operator took about 30 s to issue all, 12 s to resume
after a restart and 22 s to re-exchange all after the TTL change, and this process (emulator,
peers) grew to about 0.5 GiB; expect all of it to grow at least linearly. For 3,000-5,000 give
each stage more time (``--timeout 900``) and the refresh pass a TTL of at least three times the
expected re-exchange time (``--refresh-ttl 300``; a shorter one refreshes tokens before every
binding was even re-configured), or skip that pass (``--refresh-ttl 0``).

Modules, in the order a run uses them: :mod:`~bench.cli` (options, peers, the cluster),
:mod:`~bench.run` (each size: the operator's passes, then the floor's), :mod:`~bench.clusters`
(what a pass needs of a cluster; the emulator's form) and :mod:`~bench.realcluster` with
:mod:`~bench.proxy` (a real one), :mod:`~bench.servers` (the emulator and peer tuned for
benching), :mod:`~bench.seeding` (namespaces, identity and bindings),
:mod:`~bench.operator_process` (the programs as processes, /proc), :mod:`~bench.floor_process`
and :mod:`~bench.floor` (the floor), :mod:`~bench.passes` (first issue, restart, refresh),
:mod:`~bench.counting` (requests, token-service records, the operator's log) and
:mod:`~bench.report` (the tables); :mod:`~bench.model` holds the data they pass around, and
:mod:`~bench.standin` is the stand-in cluster.
"""
