#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image from the zip of
# `grade bundle` (unpacked into /autograder/source); the Dockerfile runs it the same way.
# It installs, pinned:
#
#   - Python 3.11 from Ubuntu's archive (NumPy 2.4 needs 3.11 or newer; the python3 of
#     Ubuntu 22.04 is 3.10) and a virtual environment for the grader in /opt;
#   - the packages of requirements.txt, with a CPU-only build of torch (torch serves only
#     `grade fixtures check`: grading compares with the frozen fixtures);
#   - the grader itself, as an editable install: its code, rubric and fixtures stay in
#     /autograder/source, and `grade` goes on the PATH;
#   - bubblewrap for the sandbox. Student code never runs as root: the grader
#     gives each worker a uid of its own from 64000 up, one that has no account here.
#
# Then /autograder/source becomes readable by root only (mode 0700): a worker running
# student code cannot read the fixtures. Last, it checks that the grader runs.
set -euo pipefail

source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv=/opt/mytorch-grader
python=python3.11
torch_index=https://download.pytorch.org/whl/cpu

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
umask 022

echo "== system packages"
apt-get update
apt-get install -y --no-install-recommends \
    "$python" "$python-venv" bubblewrap util-linux ca-certificates
rm -rf /var/lib/apt/lists/*

echo "== Python packages into $venv"
"$python" -m venv "$venv"
# torch first, from the CPU-only index and alone; the rest then finds it installed.
torch_pin="$(grep -E '^torch==' "$source_dir/requirements.txt")"
"$venv/bin/python" -m pip install --no-deps --index-url "$torch_index" "$torch_pin"
"$venv/bin/python" -m pip install -r "$source_dir/requirements.txt"
"$venv/bin/python" -m pip install --no-deps --no-build-isolation -e "$source_dir"
ln -sf "$venv/bin/grade" /usr/local/bin/grade

echo "== /autograder/source: root only"
chown -R root:root "$source_dir"
chmod -R go-rwx "$source_dir"

echo "== smoke test: an empty submission is graded (0 points) without an error"
empty="$(mktemp -d)"
grade "$empty" --results "$empty/results.json" -v
rm -rf "$empty"

echo "== fixtures: bit-for-bit regeneration with this image's NumPy and torch"
grade fixtures check ||
    echo "warning: the fixture check failed (see above); grading still uses the shipped fixtures"
