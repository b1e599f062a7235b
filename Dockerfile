# The Gradescope autograder image, built the way Gradescope builds it from the upload zip:
#
#   .venv/bin/grade bundle --out autograder.zip
#   docker build -t mytorch-autograder .
#   docker run --rm -v "$PWD/examples/submission:/autograder/submission:ro" \
#       -v "$PWD/results:/autograder/results" mytorch-autograder
#
# The zip is unpacked into /autograder/source; its setup.sh installs everything (Python
# 3.11, the pinned packages with a CPU build of torch, the grader and bubblewrap
# to run student code under an unprivileged uid) and makes /autograder/source readable
# by root only; its run_autograder becomes /autograder/run_autograder. The same image can
# be pushed to a registry and named in Gradescope's manual Docker configuration.

# Gradescope's base image, pinned to its Ubuntu 22.04 tag.
FROM gradescope/autograder-base:ubuntu-22.04

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

COPY autograder.zip /tmp/autograder.zip
RUN mkdir -p /autograder/source \
    && python3 -m zipfile -e /tmp/autograder.zip /autograder/source \
    && rm /tmp/autograder.zip \
    && bash /autograder/source/setup.sh \
    && install -m 0755 /autograder/source/run_autograder /autograder/run_autograder

WORKDIR /autograder
CMD ["/autograder/run_autograder"]
