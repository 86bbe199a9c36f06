/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userspace/ktls — hand a finished TLS 1.3 handshake to kernel TLS.
 *
 * Debian's OpenSSL 3.0 is built without enable-ktls, so SSL_OP_ENABLE_KTLS
 * does nothing there. We take the application traffic secrets from the
 * keylog callback, expand them into key and IV (RFC 8446 section 7.3) and
 * install them with setsockopt(SOL_TLS, TLS_TX / TLS_RX) ourselves.
 *
 * What the handshake must look like for the switch to be exact:
 *  - TLS 1.3 with TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384;
 *  - no session tickets (SSL_CTX_set_num_tickets(ctx, 0)) and no
 *    application data through OpenSSL, so both record sequence numbers
 *    are still 0 when the kernel takes over;
 *  - read-ahead off (OpenSSL's default), so OpenSSL has not pulled records
 *    past Finished out of the socket.
 *
 * After a successful ktls__install() the SSL object must not touch the
 * socket again (it is left in quiet-shutdown mode, so SSL_shutdown() and
 * SSL_free() send nothing). Move bytes with read()/write()/splice() on the
 * fd, read with ktls__recv() to see records that are not application data,
 * and end the stream with ktls__send_close_notify() then shutdown(SHUT_WR).
 */
#ifndef NAMETAG_KTLS_H
#define NAMETAG_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "ca/ca.h"	/* struct nt_err */

/* TLS record content types (RFC 8446 section 5.1). */
#define KTLS_RECORD_ALERT	21
#define KTLS_RECORD_HANDSHAKE	22
#define KTLS_RECORD_DATA	23

#define KTLS_IV_LEN		12	/* AES-GCM nonce: 4 salt + 8 iv */

/* Whether this kernel has kTLS (the "tls" TCP ULP, loadable on demand).
 * Probed once, then cached. */
bool ktls__available(void);

/*
 * Installs the keylog callback on @ctx that keeps CLIENT_TRAFFIC_SECRET_0
 * and SERVER_TRAFFIC_SECRET_0 of every SSL made from it, out of sight of
 * any log, until ktls__install() (or SSL_free()) wipes them. Call before
 * the handshake. Replaces no other callback: -EBUSY if @ctx already has a
 * different keylog callback. Returns 0 or a negative errno.
 */
int ktls__keylog_attach(SSL_CTX *ctx);

/*
 * Switches the connected, handshaken @ssl on socket @fd to kTLS for both
 * directions and wipes the captured secrets whatever the outcome.
 *
 * Returns 0, or a negative errno with err->msg set:
 *  -EOPNOTSUPP   not TLS 1.3 or a suite other than AES-GCM; nothing touched
 *  -ENOPROTOOPT  the kernel has no kTLS; nothing touched, carry on with
 *                OpenSSL's userspace record layer
 *  -EBUSY        OpenSSL holds unread bytes; the kernel would never see them
 *  -ENOKEY       the traffic secrets were not captured (no keylog attach)
 *  -EINVAL       session tickets enabled, handshake not finished, or @fd
 *                is not the socket the SSL object uses
 *  other         setsockopt failed; if the ULP was set (anything after
 *                TCP_ULP), the connection is unusable and must be closed
 */
int ktls__install(SSL *ssl, int fd, bool is_server, struct nt_err *err);

/*
 * recvmsg() on a kTLS socket that also reports the record's content type.
 * @len may be as small as 1 (the last byte of an NT2 frame), but an alert
 * (2 bytes) is only understood with room for it: cut short it is -EPROTO.
 * @record_type may be NULL.
 *
 * Returns the number of application-data bytes (> 0, type 23), or 0 for
 * end of stream: after the peer's close_notify (*record_type = 21) or at a
 * TCP FIN without one (*record_type = 0: the stream may be truncated).
 * A warning user_canceled alert is skipped. Errors are negative errnos,
 * also left in errno: -ECONNABORTED for any other alert, -EPROTO for a
 * handshake record (a KeyUpdate or NewSessionTicket, which Debian 12's
 * kernel cannot follow: close the connection), -EAGAIN when a
 * non-blocking socket has nothing yet, and recvmsg()'s own errors.
 */
ssize_t ktls__recv(int fd, void *buf, size_t len, int *record_type);

/* Sends a close_notify alert record. Follow with shutdown(fd, SHUT_WR).
 * Returns 0 or a negative errno (-EAGAIN on a full non-blocking socket). */
int ktls__send_close_notify(int fd);

/*
 * HKDF-Expand-Label(@secret, "key", "", @key_len) into @key and
 * HKDF-Expand-Label(@secret, "iv", "", 12) into @iv, with @digest ("SHA256"
 * or "SHA384"). Exposed for the known-answer test. Returns 0 or -EIO.
 */
int ktls__derive_key_iv(const char *digest, const unsigned char *secret,
			size_t secret_len, unsigned char *key, size_t key_len,
			unsigned char iv[KTLS_IV_LEN]);

#endif
