"""torchrun with the Job's exit codes: ``python -m myretail_finetune.launch [torchrun args]``.

The arguments are torchrun's own (``--nproc-per-node``, ``--nnodes``, ``--node-rank``,
``--rdzv-backend``, ``--rdzv-endpoint``, ..., then ``-m myretail_finetune train``): this is
``torch.distributed.run`` itself. Plain torchrun exits 1 whatever its workers exited with,
which would hide the codes the Kubernetes Job acts on (configuration, data, tag and gate
failures fail the Job at once; ``INTERRUPTED`` is retried). The launcher exits with the
first failed worker's code instead, and with ``INTERRUPTED`` when it was itself stopped by
SIGTERM (torchrun then passes the signal to its workers, which checkpoint and stop).
"""

from __future__ import annotations

import signal
import sys

from myretail_finetune.errors import ExitCode


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(sys.argv[1:] if argv is None else argv))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = failure.exitcode
        if code < 0:  # killed by a signal: the shell's convention, 128 + signal number
            code = 128 - code
        print(
            f"error: training process of rank {rank} exited with {code}",
            file=sys.stderr,
            flush=True,
        )
        return code
    except SignalException as exc:
        name = signal.Signals(exc.sigval).name
        print(f"error: stopped by {name}; the workers checkpointed", file=sys.stderr, flush=True)
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
