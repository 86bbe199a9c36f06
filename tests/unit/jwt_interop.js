// SPDX-License-Identifier: Apache-2.0
// JWT-SVIDs checked by an independent implementation: node's crypto
// (test_jwt_svid.c runs this). The same two modes as jwt_interop.py:
//   node jwt_interop.js verify JWKS_FILE TOKEN AUDIENCE
//   node jwt_interop.js sign SUB AUDIENCE
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const b64d = (s) => Buffer.from(s, 'base64url');
const b64e = (b) => Buffer.from(b).toString('base64url');

function fail(why) {
	console.log('refused: ' + why);
	process.exit(1);
}

// null when the token verifies with the JWK Set (an object) for the
// audience, else the reason; also used by tests/workload_api.
function check(jwks, token, audience) {
	const [h64, p64, s64] = token.split('.');
	const header = JSON.parse(b64d(h64));
	const claims = JSON.parse(b64d(p64));
	if (header.alg !== 'ES256' || (header.typ || 'JWT') !== 'JWT')
		return 'header ' + JSON.stringify(header);
	const keys = jwks.keys.filter((k) => k.kid === header.kid);
	if (keys.length !== 1 || keys[0].use !== 'jwt-svid')
		return 'no jwt-svid key for kid ' + header.kid;
	const { kty, crv, x, y } = keys[0];
	const pub = crypto.createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
	const sig = b64d(s64);
	if (sig.length !== 64)
		return 'signature of ' + sig.length + ' bytes, not 64 (raw r||s)';
	if (!crypto.verify('sha256', Buffer.from(h64 + '.' + p64),
			   { key: pub, dsaEncoding: 'ieee-p1363' }, sig))
		return 'bad signature';
	const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
	if (!aud.includes(audience))
		return 'audience ' + audience + ' not in ' + JSON.stringify(aud);
	const now = Date.now() / 1000;
	if (!(claims.exp > now) || claims.iat > now + 60)
		return 'times exp=' + claims.exp + ' iat=' + claims.iat;
	return null;
}

function verify(jwksFile, token, audience) {
	const why = check(JSON.parse(fs.readFileSync(jwksFile, 'utf8')), token,
			  audience);
	if (why)
		fail(why);
	console.log('ok ' + JSON.parse(b64d(token.split('.')[1])).sub);
}

function sign(sub, audience) {
	const { publicKey, privateKey } =
		crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const kid = 'node-' + b64e(crypto.randomBytes(9));
	const jwk = { use: 'jwt-svid', kid, ...publicKey.export({ format: 'jwk' }) };
	const now = Math.floor(Date.now() / 1000);
	const h64 = b64e(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
	const p64 = b64e(JSON.stringify({ sub, aud: audience, exp: now + 300, iat: now }));
	const sig = crypto.sign('sha256', Buffer.from(h64 + '.' + p64),
				{ key: privateKey, dsaEncoding: 'ieee-p1363' });
	console.log(JSON.stringify({ keys: [jwk] }));
	console.log(h64 + '.' + p64 + '.' + b64e(sig));
}

module.exports = { check };

if (require.main === module) {
	const [mode, ...args] = process.argv.slice(2);
	if (mode === 'verify' && args.length === 3)
		verify(...args);
	else if (mode === 'sign' && args.length === 2)
		sign(...args);
	else
		fail('usage: verify JWKS TOKEN AUD | sign SUB AUD');
}
