// SPDX-License-Identifier: Apache-2.0
// Shared by the @grpc/grpc-js clients (test_node.js here, and the live
// suite's tests/live/wlapi_client.js): the API through grpc-js and
// proto-loader from build/npm, and checks of what it hands out with
// node's crypto.
'use strict';
const crypto = require('crypto');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const MODULES = path.join(ROOT, 'build/npm/node_modules');
const grpc = require(path.join(MODULES, '@grpc/grpc-js'));
const protoLoader = require(path.join(MODULES, '@grpc/proto-loader'));
const S = grpc.status;

// ---- gRPC through grpc-js ---------------------------------------------------------

const def = protoLoader.loadSync(path.join(ROOT, 'userspace/workload_api/workload.proto'), {
	keepCase: true, longs: String, enums: String, defaults: true,
});
const Api = grpc.loadPackageDefinition(def).SpiffeWorkloadAPI;

function md(security = true) {
	const m = new grpc.Metadata();
	if (security)
		m.add('workload.spiffe.io', 'true');
	return m;
}

function unary(client, method, req, security = true) {
	return new Promise((res) => {
		client[method](req, md(security), { deadline: Date.now() + 10000 },
			       (err, resp) => res(err ? { code: err.code, details: err.details }
						      : { code: S.OK, resp }));
	});
}

// A server stream: .msgs collects messages, .code the final status.
function stream(client, method, security = true) {
	const call = client[method]({}, md(security));
	const s = { call, msgs: [], code: null };
	call.on('data', (m) => s.msgs.push(m));
	call.on('error', (e) => { s.code = e.code; });
	call.on('end', () => { if (s.code === null) s.code = S.OK; });
	s.waitFor = async (n, ms = 10000) => {
		const end = Date.now() + ms;
		while (s.msgs.length < n && s.code === null && Date.now() < end)
			await sleep(20);
		return s.msgs.length >= n;
	};
	return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- what the API hands out -----------------------------------------------------------

// Concatenated DER certificates, one by one.
function derSplit(buf) {
	const out = [];
	let i = 0;
	while (i < buf.length) {
		let len = buf[i + 1], hdr = 2;
		if (len & 0x80) {
			const k = len & 0x7f;
			len = buf.readUIntBE(i + 2, k);
			hdr = 2 + k;
		}
		out.push(new crypto.X509Certificate(buf.subarray(i, i + hdr + len)));
		i += hdr + len;
	}
	return out;
}

// null when the SVID holds together: the leaf is issued and signed by a
// CA of the bundle sent, its key is the PKCS#8 key sent, its URI SAN the ID.
function checkSvid(svid) {
	const chain = derSplit(svid.x509_svid);
	const roots = derSplit(svid.bundle);
	const key = crypto.createPrivateKey({ key: svid.x509_svid_key, format: 'der',
					      type: 'pkcs8' });
	const pub = crypto.createPublicKey(key).export({ format: 'jwk' });
	const leafPub = chain[0].publicKey.export({ format: 'jwk' });
	if (pub.x !== leafPub.x || pub.y !== leafPub.y)
		return 'the key does not match the leaf';
	if (chain[0].subjectAltName !== 'URI:' + svid.spiffe_id)
		return 'SAN ' + chain[0].subjectAltName;
	const top = chain[chain.length - 1];
	if (!roots.some((r) => top.checkIssued(r) && top.verify(r.publicKey)))
		return 'no CA of the bundle issued the chain';
	return null;
}

module.exports = { grpc, Api, md, unary, stream, sleep, derSplit, checkSvid };
