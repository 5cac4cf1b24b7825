"""`mixc graph FILE --format dot|mermaid`: the job graph, for Graphviz or Mermaid."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("dot", "mermaid"), default="dot")


def render(graph, fmt: str) -> str:
    ordered = graph.jobs
    key = {j.id: f"n{i}" for i, j in enumerate(ordered)}
    if fmt == "dot":
        lines = ["digraph mixc {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
        lines += [f'  {key[j.id]} [label="{j.kind}\\n{j.name}"];' for j in ordered]
        lines += [f"  {key[a]} -> {key[b]};" for a, b in graph.edges]
        return "\n".join(lines + ["}"]) + "\n"
    lines = ["flowchart LR"]
    lines += [f'  {key[j.id]}["{j.kind}<br/>{j.name}"]' for j in ordered]
    lines += [f"  {key[a]} --> {key[b]}" for a, b in graph.edges]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.pipeline import Stop, compiled

    try:
        c = compiled(args.file, with_budget=False)
    except Stop as stop:
        return stop.status
    print(render(c.graph, args.format), end="")
    return 0
