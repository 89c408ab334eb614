"""`make bench`: how the real operator scales with the number of ServiceAccountBindings.

For each size N (the first is the baseline) this starts, all on 127.0.0.1: a fresh Kubernetes
API emulator, seeds one ExternalIdentity and N bindings straight into its store (no client
overhead), and runs the real operator (``external-identity run``, a separate process, via
:class:`~support.operator.OperatorProcess`) against it, the Phase-protocol peer and
moto as AWS STS (both shared by every size). It measures

* initial pass: seconds from starting the operator until every binding is Ready=True
  (TokenIssued) and its Secret holds a token; the operator's peak RSS (``VmHWM``) and CPU time;
  token-service requests per binding (1.0 means no duplicate or failed exchanges);
* restart: SIGTERM, start again, seconds until every binding's daemon has read its Secret back
  (resumed), and how many new exchanges the restart caused (0 means nothing was re-minted);
* refresh (``--refresh-ttl``, 0 to skip): every binding's ``spec.ttl`` is lowered to a short
  TTL (one re-exchange each), then one refresh cycle is watched: when each token was replaced
  (as a share of its TTL), the least lifetime left on a token when it was replaced, and whether
  any expired first.

Figures are printed as ratios against the baseline measured in this same run; nothing is
asserted about timings. The emulator and the peers run inside this process, so on a small
machine they compete with the operator for CPU: both CPU times are printed to tell who was
busy. To keep the test servers from setting the pace, the emulator serves object requests
without KMock's per-request reaction matching (:class:`~bench.servers.BenchEmulator`) and the
Phase peer reuses its connections to moto (:func:`~bench.servers.pooled_sts_calls`);
``--stock-emulator`` / ``--stock-peers`` measure with the servers exactly as the tests run them.

    .venv/bin/python -m bench --sizes 10,200,1000 --ttl 3600 --refresh-ttl 30
    .venv/bin/python -m bench --sizes 10,100 --operator-arg=--max-concurrent-exchanges=4

Modules, in the order a run uses them: :mod:`~bench.cli` (options, the run over all sizes),
:mod:`~bench.servers` (the emulator and peer tuned for benching), :mod:`~bench.seeding`
(the identity and bindings), :mod:`~bench.operator_process` (the operator under test),
:mod:`~bench.passes` (initial, restart and refresh passes, one size's figures),
:mod:`~bench.counting` (reading the emulator's store and call log, the token service's
records, the operator's log) and :mod:`~bench.report` (the tables); :mod:`~bench.model`
holds the data they pass around.
"""
