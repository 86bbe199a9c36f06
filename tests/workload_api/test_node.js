// SPDX-License-Identifier: Apache-2.0
// The Workload API library against @grpc/grpc-js with @grpc/proto-loader
// (the versions tests/workload_api/package-lock.json pins, installed into
// build/npm by make deps), through wlapi_testd: every RPC, the SVID and
// key checked with node's crypto, the JWT-SVID verified with the JWKS
// received, a missing security header, pushes on rotation and federation,
// withdrawal mid-stream, 200 concurrent streams.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const ROOT = path.resolve(__dirname, '..', '..');
const MODULES = path.join(ROOT, 'build/npm/node_modules');
const { grpc, Api, unary, stream, sleep, checkSvid } =
	require('./node_lib.js');
const { check: jwtCheck } = require(path.join(ROOT, 'tests/unit/jwt_interop.js'));

const TESTD = path.resolve(process.env.WLAPI_TESTD ||
			   path.join(ROOT, 'build/tests/wlapi_testd'));
const TD_ID = 'spiffe://example.org';
const UID0 = TD_ID + '/uid/0';
const S = grpc.status;

let passed = 0, failed = 0;
function check(name, ok, detail) {
	if (ok) {
		passed++;
		console.log('ok   wlapi/node/' + name);
	} else {
		failed++;
		console.log('FAIL wlapi/node/' + name + ' ' + (detail || ''));
	}
}

// ---- the stand-in server, driven on stdin -------------------------------------

class Server {
	async start(...args) {
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wlapi-node-'));
		this.sock = path.join(this.dir, 'api.sock');
		this.proc = spawn(TESTD, ['--socket', this.sock, '--state',
					  path.join(this.dir, 'state'), ...args],
				  { stdio: ['pipe', 'pipe', 'ignore'] });
		this.lines = [];
		this.waiters = [];
		readline.createInterface({ input: this.proc.stdout }).on('line', (l) => {
			const w = this.waiters.shift();
			if (w)
				w(l);
			else
				this.lines.push(l);
		});
		this.exited = new Promise((res) => this.proc.on('exit', (c) => res(c)));
		const first = await this.line();
		if (!first.startsWith('ready'))
			throw new Error('wlapi_testd did not start: ' + first);
		return this;
	}

	line() {
		if (this.lines.length)
			return Promise.resolve(this.lines.shift());
		return new Promise((res) => this.waiters.push(res));
	}

	async cmd(c) {
		this.proc.stdin.write(c + '\n');
		const out = [];
		for (;;) {
			const l = await this.line();
			if (l.startsWith('done '))
				return out;
			out.push(l);
		}
	}

	async stats() {
		return JSON.parse((await this.cmd('stats'))[0]);
	}

	async stop() {
		this.proc.stdin.write('quit\n');
		const code = await this.exited;
		fs.rmSync(this.dir, { recursive: true, force: true });
		return code === 0;
	}
}

// ---- cases ------------------------------------------------------------------------------

async function testRpcs() {
	const srv = await new Server().start();
	const c = new Api('unix://' + srv.sock, grpc.credentials.createInsecure());
	const x = stream(c, 'FetchX509SVID');
	await x.waitFor(1);
	const svid = x.msgs[0] && x.msgs[0].svids[0];
	check('FetchX509SVID: the caller\'s SVID', svid && svid.spiffe_id === UID0);
	const why = svid ? checkSvid(svid) : 'no svid';
	check('FetchX509SVID: chain, key and SAN hold together (node crypto)',
	      why === null, why);
	x.call.cancel();
	const xb = stream(c, 'FetchX509Bundles');
	await xb.waitFor(1);
	check('FetchX509Bundles: the local bundle, as the SVID\'s',
	      xb.msgs[0] && svid && Buffer.compare(xb.msgs[0].bundles[TD_ID],
						   svid.bundle) === 0);
	xb.call.cancel();
	const jb = stream(c, 'FetchJWTBundles');
	await jb.waitFor(1);
	const jwks = JSON.parse(jb.msgs[0].bundles[TD_ID].toString());
	check('FetchJWTBundles: jwt-svid keys with kids',
	      jwks.keys.length > 0 && jwks.keys.every((k) => k.use === 'jwt-svid' && k.kid));
	jb.call.cancel();
	const j = await unary(c, 'FetchJWTSVID', { audience: ['db'] });
	const tok = j.resp && j.resp.svids[0].svid;
	const jwhy = tok ? jwtCheck(jwks, tok, 'db') : 'no token';
	check('FetchJWTSVID: verified with the JWKS received (kid, raw r||s, aud, exp), node crypto',
	      jwhy === null, jwhy);
	const none = await unary(c, 'FetchJWTSVID', { audience: [] });
	check('FetchJWTSVID without audience: INVALID_ARGUMENT',
	      none.code === S.INVALID_ARGUMENT, none.details);
	const v = await unary(c, 'ValidateJWTSVID', { audience: 'db', svid: tok });
	check('ValidateJWTSVID: the ID and the claims',
	      v.code === S.OK && v.resp.spiffe_id === UID0 &&
	      v.resp.claims.fields.sub.stringValue === UID0, JSON.stringify(v));
	const bad = await unary(c, 'ValidateJWTSVID', { audience: 'other', svid: tok });
	check('ValidateJWTSVID, another audience: INVALID_ARGUMENT',
	      bad.code === S.INVALID_ARGUMENT, bad.details);
	for (const m of ['FetchWITSVID', 'FetchWITBundles']) {
		const w = stream(c, m);
		await w.waitFor(1, 5000);
		await sleep(50);
		check(m + ': UNIMPLEMENTED', w.code === S.UNIMPLEMENTED, String(w.code));
	}
	// The security header.
	for (const m of ['FetchJWTSVID', 'ValidateJWTSVID']) {
		const r = await unary(c, m, { audience: ['db'], svid: 'x' }, false);
		check(m + ' without the security header: INVALID_ARGUMENT',
		      r.code === S.INVALID_ARGUMENT, r.details);
	}
	for (const m of ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles']) {
		const s = stream(c, m, false);
		await s.waitFor(1, 5000);
		await sleep(50);
		check(m + ' without the security header: INVALID_ARGUMENT',
		      s.code === S.INVALID_ARGUMENT, String(s.code));
	}
	c.close();
	check('rpcs: the server exits 0', await srv.stop());
}

async function testStreams() {
	const srv = await new Server().start();
	const c = new Api('unix://' + srv.sock, grpc.credentials.createInsecure());
	const x = stream(c, 'FetchX509SVID');
	const xb = stream(c, 'FetchX509Bundles');
	check('streams: first messages at once', await x.waitFor(1) && await xb.waitFor(1));
	await srv.cmd('rotate');
	const got = await x.waitFor(2);
	check('rotation pushed: a new leaf, and it holds together',
	      got && Buffer.compare(x.msgs[0].svids[0].x509_svid,
				    x.msgs[1].svids[0].x509_svid) !== 0 &&
	      checkSvid(x.msgs[1].svids[0]) === null);
	await srv.cmd('federate other.org');
	check('federation pushed on both streams', await x.waitFor(3) && await xb.waitFor(2));
	check('FetchX509SVID: federated_bundles holds other.org',
	      x.msgs[2] && Object.keys(x.msgs[2].federated_bundles).join() ===
	      'spiffe://other.org');
	await srv.cmd('withdraw 0');
	const end = Date.now() + 5000;
	while (x.code === null && Date.now() < end)
		await sleep(20);
	check('withdrawn mid-stream: PERMISSION_DENIED', x.code === S.PERMISSION_DENIED,
	      String(x.code));
	xb.call.cancel();
	c.close();
	check('streams: the server exits 0', await srv.stop());
}

async function test200() {
	const srv = await new Server().start();
	const c = new Api('unix://' + srv.sock, grpc.credentials.createInsecure());
	const ss = [];
	for (let i = 0; i < 200; i++)
		ss.push(stream(c, 'FetchX509SVID'));
	const first = await Promise.all(ss.map((s) => s.waitFor(1, 30000)));
	const st = await srv.stats();
	check('200 concurrent streams: each has its first message',
	      first.every(Boolean) && st.streams === 200, JSON.stringify(st));
	await srv.cmd('rotate');
	const second = await Promise.all(ss.map((s) => s.waitFor(2, 30000)));
	check('200 concurrent streams: each gets the rotation', second.every(Boolean));
	ss.forEach((s) => s.call.cancel());
	const end = Date.now() + 10000;
	while ((await srv.stats()).streams > 0 && Date.now() < end)
		await sleep(100);
	check('200 streams cancelled: freed', (await srv.stats()).streams === 0);
	c.close();
	check('200 streams: the server exits 0', await srv.stop());
}

(async () => {
	for (const t of [testRpcs, testStreams, test200]) {
		try {
			await t();
		} catch (e) {
			check(t.name, false, String(e && e.stack));
		}
	}
	const v = (m) => JSON.parse(fs.readFileSync(path.join(MODULES, m, 'package.json'))).version;
	console.log('clients: @grpc/grpc-js ' + v('@grpc/grpc-js') + ', @grpc/proto-loader ' +
		    v('@grpc/proto-loader') + ', node ' + process.version);
	console.log('wlapi/node: ' + passed + ' passed, ' + failed + ' failed');
	process.exit(failed ? 1 : 0);
})();
