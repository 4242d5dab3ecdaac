"""Coverage-guided fuzzing of the parsers of outside input, with atheris (libFuzzer for
Python), run by hand; not part of the test suite.

    .venv/bin/uv pip install atheris      # not a locked dependency: `make` removes it again
    .venv/bin/python -m fuzz verify fuzz/corpus/verify -max_total_time=600 -timeout=1 \
        -rss_limit_mb=1024 -max_len=16384 -len_control=0 -artifact_prefix=fuzz/crashes/

Targets: ``verify`` (``verify_text`` on QR text, at each layer:
the text, the zlib bytes, the COSE_Sign1, claims signed with the region's own agency key so
that they pass the signature, structured mutations of real claims, protected headers, the
id a clerk types), ``trust`` (trust bundles and revocation snapshots as files, as payloads
signed by the region's root and log keys, structured mutations of real ones, key statements
the root certified, then the region's documents verified with them), ``ledger``
(``keys.cbor.loads``, ledger entries, signed notes and checkpoints, verifier keys, key
statements, cascades), ``scan`` (``read_qr`` on image files) and ``policy`` (witness policy
files, as bytes and as files of lines built from real keys and names, a few of them broken;
a file taken is evaluated on the region's checkpoint cosigned by the witnesses the fuzzer
picks, and each key that cosigned must count once, for its own line, in a quorum that all
its witnesses meet, no witness meets but ``quorum none``, and one more cosigner never
unmeets), and ``witness`` (the tlog-witness ``add-checkpoint`` body a node takes from
anyone, parsed and decided against the region's log as the node decides it: one spelling
for a body, the spec's HTTP status for each refusal, a cosignature only for a checkpoint
the log signed and proved consistent with the one held, an honest request cosigned). Each
builds a small region
first (as the tests do), seeds an empty corpus directory with its real files, and counts as
a failure any exception but the documented errors, an input running past ``-timeout``, or
memory past ``-rss_limit_mb``; and after each input it checks that cbor2 still hashes
fresh tags (:func:`fuzz.targets.tags_still_hash`). A failing input is written to the current
directory or ``-artifact_prefix`` (``crash-…``, ``timeout-…``); replay it with ``python -m
fuzz TARGET that-file``.
"""
