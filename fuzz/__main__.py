"""``python -m fuzz TARGET [CORPUS_DIR or input files] [libFuzzer options]``: fuzz one
target (:data:`fuzz.targets.TARGETS`) with atheris, eseal's rooms instrumented for
coverage (and Pillow's plugins, for ``scan``). An empty corpus directory is seeded first."""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# The rooms are imported, so instrumented, before anything else imports them.
with atheris.instrument_imports(include=["keys", "ledger", "verifier", "PIL"]):
    import PIL.Image
    import PIL.JpegImagePlugin  # noqa: F401

    from fuzz import targets
    from fuzz.material import build


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: python -m fuzz {{{','.join(targets.TARGETS)}}} [libFuzzer args]")
    name, args = sys.argv[1], sys.argv[2:]
    target = targets.TARGETS[name](build(), atheris.FuzzedDataProvider)
    for arg in args:
        if arg.startswith("-artifact_prefix=") and arg.endswith("/"):
            Path(arg.partition("=")[2]).mkdir(parents=True, exist_ok=True)
    corpus = next((Path(a) for a in args if not a.startswith("-")), None)
    if corpus is not None and (corpus.is_dir() or not corpus.exists()):
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for i, seed in enumerate(target.seeds()):
                (corpus / f"seed-{i:03d}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *args], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
