"""`mixc fmt FILE... [--check]`: rewrite specs in the canonical layout (spec/fmt.py).

Files are rewritten in place, atomically (temp file + rename), and only when they change.
`-` reads standard input and writes standard output. --check writes nothing and exits 1
when any file would change. A file that does not parse is reported and left untouched.
"""

from __future__ import annotations

import argparse
import sys


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="spec files; `-` reads standard input")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file would change")


def run(args: argparse.Namespace) -> int:
    from mixc.atomic import write_text
    from mixc.spec.diagnostics import render_text
    from mixc.spec.fmt import format_text
    from mixc.spec.parse import decode

    status = 0
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        try:
            data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
        except OSError as exc:
            print(f"mixc: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        text, diags = decode(data, name)
        formatted = None
        if text is not None:
            formatted, diags = format_text(text, name)
        if formatted is None:
            sys.stderr.write(render_text(diags, {name: text} if text is not None else {}))
            status = 1
            continue
        if path == "-" and not args.check:
            sys.stdout.write(formatted)
        elif formatted != text:
            if args.check:
                print(f"would reformat {name}")
                status = 1
            else:
                write_text(path, formatted)
                print(f"reformatted {name}")
    return status
