#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Workload API library against Debian's python3-grpcio and python3-h2
# (test_python.py). WLAPI_TESTD picks the build of the stand-in daemon.
cd "$(dirname "$0")/../.." || exit 1
testd=${WLAPI_TESTD:-build/tests/wlapi_testd}
for m in grpc h2 cryptography google.protobuf; do
	if ! /usr/bin/python3 -c "import $m" 2>/dev/null; then
		echo "skipped: python3 module $m missing (make deps installs it)"
		echo "wlapi/python: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
done
if [ ! -x "$testd" ]; then
	echo "wlapi/python: $testd is not built"
	echo "wlapi/python: 0 passed, 1 failed"
	exit 1
fi
WLAPI_TESTD=$testd exec /usr/bin/python3 tests/workload_api/test_python.py
