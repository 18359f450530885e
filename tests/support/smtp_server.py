"""A real SMTP submission server for the test suite (aiosmtpd): STARTTLS
required, AUTH PLAIN/LOGIN required after TLS, every accepted message
written to a directory as an .eml file. Started by tests/remind.rs.

usage: smtp_server.py --port N --cert PEM --key PEM --out DIR --user U --password P [--token T]
(--token: also AUTH XOAUTH2, as Office 365 takes it, for that user and token)
Prints "ready" when it accepts connections; stops when stdin closes.
"""
import argparse
import base64
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--token", default=None)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            name = os.path.join(a.out, f"{time.time_ns()}")
            with open(name + ".tmp", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            with open(name + ".envelope", "w") as f:
                f.write(envelope.mail_from + "\n" + "\n".join(envelope.rcpt_tos) + "\n")
            os.rename(name + ".tmp", name + ".eml")
            return "250 Message accepted"

        async def auth_XOAUTH2(self, server, args):
            if a.token is None or len(args) < 2:
                return AuthResult(success=False)
            try:
                payload = base64.b64decode(args[1]).decode()
            except Exception:
                return AuthResult(success=False)
            expected = f"user={a.user}\x01auth=Bearer {a.token}\x01\x01"
            if payload == expected:
                return AuthResult(success=True)
            # As Office 365 answers a bad token: a JSON error as a challenge,
            # the client's empty reply, then the refusal.
            await server.challenge_auth(
                '{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/SMTP.Send"}'
            )
            return AuthResult(success=False)

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(a.cert, a.key)
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=a.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        ready_timeout=10,
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
