#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Workload API library against @grpc/grpc-js and @grpc/proto-loader,
# pinned by package-lock.json and installed into build/npm by make deps
# (test_node.js). WLAPI_TESTD picks the build of the stand-in daemon.
cd "$(dirname "$0")/../.." || exit 1
testd=${WLAPI_TESTD:-build/tests/wlapi_testd}
if ! command -v node >/dev/null ||
   [ ! -e build/npm/node_modules/.installed ]; then
	echo "skipped: node or build/npm/node_modules missing (run make deps)"
	echo "wlapi/node: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ ! -x "$testd" ]; then
	echo "wlapi/node: $testd is not built"
	echo "wlapi/node: 0 passed, 1 failed"
	exit 1
fi
WLAPI_TESTD=$testd exec node tests/workload_api/test_node.js
