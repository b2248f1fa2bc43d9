"""Account enumeration by timing: both paths of forgot-password and of registration.

    .venv/bin/python benchmarks/enumeration_benchmark.py [--requests 40]

Times POST /password/forgot for an address with an account and one without, and POST
/register for a new address and one that already has an account, through the app
(server time, production Argon2 settings, SQLite, mail written to the file outbox), in
alternating order so both paths see the same machine. Prints each path's median and the
difference. Each path queues one email and, for registration, hashes the password once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from portal import create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.extensions import db  # noqa: E402

# The password every account and registration in the benchmark uses.
PHRASE = "correct horse battery staple"


def timed(client, path: str, data: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.post(path, data=data)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": folder, "SECRET_KEY": "benchmark",
                          "DATABASE_URL": f"sqlite:///{folder}/bench.db",
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade()
            accounts.create_user("known@example.org", PHRASE, "Known")
            db.session.commit()
        client = app.test_client()
        results: dict[str, list[float]] = {name: [] for name in
                                           ("forgot, account", "forgot, no account",
                                            "register, existing", "register, new")}
        for number in range(args.requests):
            results["forgot, account"].append(
                timed(client, "/password/forgot", {"email": "known@example.org"}))
            results["forgot, no account"].append(
                timed(client, "/password/forgot", {"email": f"nobody{number}@example.org"}))
            form = {"display_name": "Ana", "password": PHRASE,
                    "password_confirm": PHRASE, "locale": "es"}
            results["register, existing"].append(
                timed(client, "/register", {**form, "email": "known@example.org"}))
            results["register, new"].append(
                timed(client, "/register", {**form, "email": f"new{number}@example.org"}))
        medians = {name: statistics.median(times) for name, times in results.items()}
        for name, median in medians.items():
            print(f"{name:22} median {median:7.2f} ms over {args.requests} requests")
        for first, second in (("forgot, account", "forgot, no account"),
                              ("register, existing", "register, new")):
            print(f"{first} vs {second}: {medians[first] - medians[second]:+.2f} ms")


if __name__ == "__main__":
    main()
