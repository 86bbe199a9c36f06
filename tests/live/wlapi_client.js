// SPDX-License-Identifier: Apache-2.0
// A Workload API client for the live suite (test_workload_api.sh) on
// @grpc/grpc-js with @grpc/proto-loader (build/npm, pinned by
// tests/workload_api/package-lock.json): run as a process of an enrolled
// cgroup, it fetches its X.509-SVID (checked with node's crypto against
// the bundle received), a JWT-SVID (verified with the JWKS received) and
// validates it, and prints one JSON line.
//   node wlapi_client.js SOCK AUDIENCE
'use strict';
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const { grpc, Api, unary, stream, checkSvid } =
	require(path.join(ROOT, 'tests/workload_api/node_lib.js'));
const { check: jwtCheck } = require(path.join(ROOT, 'tests/unit/jwt_interop.js'));

const name = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code);

async function main() {
	const [sock, aud] = process.argv.slice(2);
	const c = new Api('unix://' + sock, grpc.credentials.createInsecure());
	const out = {};
	const x = stream(c, 'FetchX509SVID');
	await x.waitFor(1);
	x.call.cancel();
	if (!x.msgs.length) {
		console.log(JSON.stringify({ status: name(x.code) }));
		process.exit(0);
	}
	const svid = x.msgs[0].svids[0];
	out.status = 'OK';
	out.spiffe_id = svid.spiffe_id;
	out.svid_problem = checkSvid(svid);
	const jb = stream(c, 'FetchJWTBundles');
	await jb.waitFor(1);
	jb.call.cancel();
	const td = svid.spiffe_id.split('/')[2];
	const jwks = JSON.parse(jb.msgs[0].bundles['spiffe://' + td].toString());
	const j = await unary(c, 'FetchJWTSVID', { audience: [aud] });
	out.jwt_status = name(j.code);
	if (j.resp) {
		const tok = j.resp.svids[0].svid;
		out.jwt_id = j.resp.svids[0].spiffe_id;
		out.jwt_problem = jwtCheck(jwks, tok, aud);
		const v = await unary(c, 'ValidateJWTSVID', { audience: aud, svid: tok });
		out.validate = name(v.code);
		out.validate_id = v.resp ? v.resp.spiffe_id : null;
	}
	c.close();
	console.log(JSON.stringify(out));
}

main().catch((e) => { console.log(JSON.stringify({ status: 'ERROR', error: String(e) })); });
