"""The ``external-identity explain`` sub-command: its flags, and the report it prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from external_identity.cli.args import add_cluster_flags
from external_identity.errors import ConfigurationError

if TYPE_CHECKING:  # the checks load azure-identity, jsonschema and the CRDs: only for explain
    from external_identity.cli.explain.inputs import Subject
    from external_identity.cli.explain.state import Context, Finding

__all__ = ["add_explain_parser", "explain"]

DESCRIPTION = """\
Pre-flight an ExternalIdentity, and optionally a ServiceAccountBinding, before (or instead
of) waiting for the operator: runs every check in order and stops at the first failure,
printing the check's name, what it saw and the fix.

checks, in order:
  schema         the CRDs' OpenAPI schema and CEL rules (as the API server applies them, after
                 defaults), then the operator's own spec rules
  namespace      the binding's namespace is in the identity's allowedNamespaces
  service-account
                 the binding's serviceAccountId is listed in the identity's serviceAccounts
                 for its namespace (none listed: allowed only with credentials.source
                 ServiceAccount)
  credentials    this process finds cloud credentials, and which link of the chain found them
                 (AWS: botocore's provider, e.g. env, web identity token file, container
                 endpoint; Azure: workload identity token file, environment, managed identity)
  principal      who they prove: the AWS caller ARN (GetCallerIdentity at the identity's STS
                 endpoint) or the Entra token's object ID (oid)
  sts-endpoint   AWS: the STS endpoint signed for, and its signing region, agree with the spec
  token-service  the token service answers over TLS with spec.tokenService.caBundle (a GET:
                 no exchange)
  exchange       only with --exchange: one real exchange for the binding's service account

The credentials are this process's own: run it where the operator runs (kubectl exec
deploy/external-identity-operator -- external-identity explain ...). With credentials.source
ServiceAccount (per-workload), credentials, principal and exchange are reported as not checked:
they need a Kubernetes token of the workload's ServiceAccount, which explain does not request.

exit status: 0 when every check ran passed; otherwise as `exchange`: 2 for a spec/input
problem, 3 for credentials, 4 when the token service refused, 5 when it (or TLS) failed.

-o json prints the report as one JSON document instead (where the text goes: stdout, or
stderr with --exchange): {"identity", "binding", "result": "passed" | "failed", "stoppedAt",
"passed", "notChecked", "findings": [{"check", "verdict", "seen", "fix"}, ...]}; the exit
status and the error on stderr are the same as in text.
"""
OUTPUTS = ("text", "json")


def add_explain_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explain",
        help="check an ExternalIdentity (and binding) end to end and say what to fix",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f", "--filename", action="append", default=[], dest="files", metavar="FILE",
        help="YAML/JSON manifest with the ExternalIdentity and/or binding (repeatable, several "
        "documents per file, '-' for stdin); nothing is read from any cluster",
    )
    parser.add_argument(
        "--identity", metavar="NAME",
        help="the ExternalIdentity (default: the one the binding references, or the only one "
        "in the files)",
    )
    parser.add_argument(
        "--binding", metavar="[NAMESPACE/]NAME",
        help="the ServiceAccountBinding (default with -f: the only one in the files, if any)",
    )
    parser.add_argument(
        "-n", "--namespace", metavar="NS",
        help="namespace of --binding, and of a binding in the files that names none "
        "(default: default)",
    )
    parser.add_argument(
        "--exchange", action="store_true",
        help="also make one real exchange for the binding's service account and print the "
        "token as `exchange --no-store` does (JSON on stdout; the report then goes to stderr)",
    )
    add_cluster_flags(parser, when="without -f: ")
    parser.add_argument(
        "-o", "--output", choices=OUTPUTS, default="text",
        help="the report as aligned text, or as one JSON document (default: %(default)s)",
    )
    parser.set_defaults(handler=explain)


def explain(args: argparse.Namespace) -> int:
    """Run the checks from the parsed flags; a failure raises the error that sets the exit."""
    return asyncio.run(_explain(args))


async def _subject(args: argparse.Namespace) -> Subject:
    from external_identity.cli.explain.inputs import from_cluster, from_files

    if args.files:
        if args.kubeconfig or args.context:
            raise ConfigurationError("-f reads only the files: drop --kubeconfig/--context")
        return from_files(
            args.files, identity=args.identity, binding=args.binding, namespace=args.namespace
        )
    return await from_cluster(
        identity=args.identity, binding=args.binding, namespace=args.namespace,
        kubeconfig=args.kubeconfig, context=args.context,
    )


def _print(finding: Finding, out: TextIO) -> None:
    label = "FAILED" if finding.verdict == "failed" else finding.verdict
    print(f"{label:<12} {finding.check:<15} {finding.seen}", file=out)
    if finding.fix:
        print(f"{'':<12} {'':<15} fix: {finding.fix}", file=out)
    out.flush()


def _document(
    ctx: Context, findings: Sequence[Finding], *, passed: int, skipped: int
) -> dict[str, Any]:
    """The report as ``-o json`` prints it: what a text report says, nothing more."""
    failed = findings[-1].verdict == "failed"
    return {
        "identity": ctx.identity_name,
        "binding": ctx.binding_name if ctx.subject.binding is not None else None,
        "result": "failed" if failed else "passed",
        "stoppedAt": findings[-1].check if failed else None,
        "passed": passed,
        "notChecked": skipped,
        "findings": [
            {"check": finding.check, "verdict": finding.verdict, "seen": finding.seen,
             "fix": finding.fix or None}
            for finding in findings
        ],
    }


async def _explain(args: argparse.Namespace) -> int:
    from external_identity.cli.explain.checks import run_checks
    from external_identity.cli.explain.state import Context
    from external_identity.cli.oneshot import no_store_document

    subject = await _subject(args)
    if args.exchange and subject.binding is None:
        raise ConfigurationError(
            "--exchange needs a ServiceAccountBinding: its serviceAccountId is the account "
            "the token is for"
        )
    report = sys.stderr if args.exchange else sys.stdout
    as_json = args.output == "json"
    ctx = Context(subject, exchange=args.exchange)
    findings: list[Finding] = []
    async for finding in run_checks(ctx):
        if not as_json:
            _print(finding, report)
        findings.append(finding)
    passed = sum(1 for finding in findings if finding.verdict == "ok")
    skipped = sum(1 for finding in findings if finding.verdict == "not checked")
    last = findings[-1]
    if as_json:
        json.dump(_document(ctx, findings, passed=passed, skipped=skipped), report, indent=2)
        print(file=report, flush=True)
    elif last.verdict == "failed":
        print(f"stopped at {last.check}: {passed} passed before it", file=report)
    else:
        note = f", {skipped} not checked" if skipped else ""
        print(f"{passed} checks passed{note}", file=report)
    if last.verdict == "failed":
        assert last.error is not None
        raise last.error
    if ctx.issued is not None:
        sys.stdout.write(no_store_document(ctx.issued))
    return 0
