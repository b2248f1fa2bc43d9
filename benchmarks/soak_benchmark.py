"""Several app servers under load and faults: two gunicorn servers and an RQ worker
behind nginx, on one PostgreSQL database and one Redis, all on 127.0.0.1.

    .venv/bin/python benchmarks/soak_benchmark.py [--duration 60] [--clients 16]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/13]

In one run:

1. a scratch PostgreSQL database, migrated, with the demo data (departments, accounts,
   articles, ideas), ``PORTAL_SEARCH_BACKEND=postgresql``, jobs on a queue of its own;
   the servers share one instance folder (the uploads and the file outbox: "a path
   every server mounts");
2. starts server A and server B (gunicorn, 2 workers x 4 threads each), the worker
   (``flask portal worker``) and Debian's nginx in front (deploy/nginx's proxy settings,
   without TLS);
3. ``--clients`` threads drive a bounded mix through nginx for ``--duration`` seconds,
   a connection per request: 35 % complete submissions (the form fetched, then sent
   with its tokens and a photo), 25 % pages (home, the knowledge base, an article,
   the ideas board), 25 % searches, 15 % an idea page. An agent signed in on each
   server answers the newest cases (a reply each) in a thread of its own;
4. restarts server A (SIGTERM, then a new one) at a third of the run and the worker at
   half of it;
5. waits for the worker to drain the outbox, then checks: every accepted submission is
   in the database with its file on disk, every confirmation was written exactly once,
   and an article published through server A is found at once through server B. Mail
   goes to an SMTP server of the script's own (aiosmtpd), which counts what arrives.

It prints requests/s, p50/p95/p99 per endpoint, answers by status (5xx inside and
outside the restart windows), submissions/s, lost submissions and duplicate emails.
Never asserts timings; exits 1 when something was lost or sent twice.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch import scratch_database  # noqa: E402

BIN = Path(sys.executable).parent
SEARCHES = ["multa", "empadronamiento", "recogida de muebles", "ibi", "licencia obra",
            "ruido vecinos", "tarjeta autobús", "basura", "ayuda alquiler", "vado"]
RESTART_WINDOW = 8.0  # seconds after a restart in which errors are expected
TOKEN = re.compile(r'<input[^>]*name="(csrf_token|submission_token)"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


class Client:
    """A browser: cookies, no redirects followed, a connection per request."""

    def __init__(self, base: str) -> None:
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict | None = None) -> tuple[int, str, dict]:
        # S310: the base is the loopback address this script started.
        request = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310
                                         headers={"Accept-Language": "es",
                                                  "Connection": "close", **(headers or {})})
        try:
            with self.opener.open(request, timeout=60) as answer:
                return answer.status, answer.read().decode("utf-8", "replace"), answer.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace"), error.headers
        except OSError:
            return 0, "", {}

    def post_form(self, path: str, fields: dict, files: list | None = None):
        if not files:
            return self.request("POST", path, urlencode(fields).encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                 f"{value}\r\n".encode() for name, value in fields.items()]
        for name, filename, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                         + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def sign_in(self, email: str, password: str) -> bool:
        status, page, _headers = self.request("GET", "/login")
        tokens = dict(TOKEN.findall(page))
        status, _page, _headers = self.post_form("/login", {
            "email": email, "password": password, "csrf_token": tokens.get("csrf_token", "")})
        return status == 302


class MailSink:
    """An SMTP server (aiosmtpd) that keeps every message it is given: what the
    citizens' mailboxes would receive."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.messages: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append(envelope.content)
        return "250 OK"

    def received(self) -> list[tuple[str, str, str]]:
        """(to, subject, text) of each message received."""
        import email
        import email.policy

        with self.lock:
            raw = list(self.messages)
        found = []
        for data in raw:
            message = email.message_from_bytes(data, policy=email.policy.default)
            found.append((str(message["To"]), str(message["Subject"]),
                          message.get_body(("plain",)).get_content()))
        return found

    def stop(self) -> None:
        self.controller.stop()


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter = Counter()
        self.errors: list[tuple[float, str, int]] = []  # when, endpoint, status
        self.accepted: list[tuple[str, str]] = []  # reference, email
        self.submissions_tried = 0
        self.replies = 0

    def add(self, endpoint: str, started: float, status: int) -> None:
        with self.lock:
            self.timings[endpoint].append((time.perf_counter() - started) * 1000)
            self.statuses[status] += 1
            if status == 0 or status >= 500:
                self.errors.append((time.monotonic(), endpoint, status))


def submit(client: Client, recorder: Recorder, number: int, image: bytes) -> None:
    started = time.perf_counter()
    status, page, _headers = client.request("GET", "/cases/new?kind=question")
    tokens = dict(TOKEN.findall(page))
    if status != 200 or "csrf_token" not in tokens:
        recorder.add("submit", started, status or 0)
        return
    email = f"soak{number}-{uuid.uuid4().hex[:6]}@example.org"
    fields = {"subject": f"Consulta de prueba {number} sobre la tarjeta de aparcamiento",
              "topic": "unknown", "body": "¿Qué documentos necesito para pedirla?",
              "location_text": "", "latitude": "", "longitude": "",
              "contact_name": "Vecina de Prueba", "contact_email": email,
              "contact_phone": "", "contact_preference": "email", "language": "es", **tokens}
    status, _page, headers = client.post_form("/cases/new?kind=question", fields,
                                              [("attachments", "foto.png", image)])
    recorder.add("submit", started, status)
    with recorder.lock:
        recorder.submissions_tried += 1
    if status == 302 and "/submitted" in (headers.get("Location") or ""):
        reference = headers["Location"].split("/cases/")[1].split("/")[0]
        with recorder.lock:
            recorder.accepted.append((reference, email))


def citizen(base: str, recorder: Recorder, stop: threading.Event, seed: int,
            articles: list[int], ideas: list[int]) -> None:
    rng = random.Random(seed)
    image = photo()
    number = seed * 100_000
    while not stop.is_set():
        roll = rng.random()
        client = Client(base)
        if roll < 0.35:
            number += 1
            submit(client, recorder, number, image)
            continue
        if roll < 0.60:
            endpoint, path = rng.choice([("home", "/"), ("kb", "/kb"),
                                         ("article", f"/kb/{rng.choice(articles)}"),
                                         ("ideas", "/ideas")])
        elif roll < 0.85:
            endpoint, path = "search", "/kb?q=" + quote(rng.choice(SEARCHES))
        else:
            endpoint, path = "idea", f"/ideas/{rng.choice(ideas)}"
        started = time.perf_counter()
        status, _page, _headers = client.request("GET", path)
        recorder.add(endpoint, started, status)


def agent(base: str, email: str, password: str, recorder: Recorder, stop: threading.Event,
          answered: set) -> None:
    """An agent answering the newest cases of her queue, one reply each."""
    client = Client(base)
    signed_in = False
    while not stop.is_set():
        if not signed_in:
            signed_in = client.sign_in(email, password)
            if not signed_in:
                time.sleep(1)
                continue
        started = time.perf_counter()
        status, page, _headers = client.request("GET", "/staff/?queue=triage")
        recorder.add("staff queue", started, status)
        if status != 200:
            signed_in = status not in (302, 0) and signed_in
            time.sleep(0.5)
            continue
        with recorder.lock:  # the two agents never answer the same case
            found = [ref for ref in re.findall(r'href="/staff/cases/([A-Z]-[A-Z0-9-]+)"',
                                               page) if ref not in answered]
            if found:
                answered.add(found[0])
        if not found:
            time.sleep(0.5)
            continue
        reference = found[0]
        started = time.perf_counter()
        status, page, _headers = client.request("GET", f"/staff/cases/{reference}")
        fields = dict(re.findall(r'<input[^>]*name="(csrf_token|version|last_event)"'
                                 r'[^>]*value="([^"]*)"', page))
        status, _page, _headers = client.post_form(
            f"/staff/cases/{reference}/reply",
            {**fields, "body": "Gracias por escribirnos: le respondemos enseguida."})
        recorder.add("staff reply", started, status)
        if status == 302:
            with recorder.lock:
                recorder.replies += 1


# ---------------------------------------------------------------- processes

def cpu_by_program() -> Counter:
    """CPU seconds used so far by each kind of process on the machine (from /proc):
    where the time goes, when the two cores are the limit."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: Counter = Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = text_.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if "gunicorn" in cmdline:
            kind = "gunicorn (app servers)"
        elif "portal worker" in cmdline:
            kind = "RQ worker"
        elif Path(sys.argv[0]).name in cmdline:
            kind = "load generator (this script)"
        elif cmdline.startswith("postgres") or "postgres:" in cmdline:
            kind = "PostgreSQL"
        elif "redis-server" in cmdline:
            kind = "Redis"
        elif "nginx" in cmdline:
            kind = "nginx"
        else:
            kind = "other"
        used[kind] += seconds
    return used


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    output = log.open("ab")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output,  # noqa: S603
                               stderr=subprocess.STDOUT, start_new_session=True)
    output.close()
    return process


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    return start([str(BIN / "gunicorn"), "-c", "python:portal.gunicorn_conf", "--workers", "2",
                  "--threads", "4", "--bind", f"127.0.0.1:{port}", "--no-control-socket",
                  "--graceful-timeout", "10", "wsgi:app"], env, log)


def nginx_config(folder: Path, port: int, upstreams: list[int]) -> Path:
    site = (ROOT / "deploy" / "nginx" / "ventanilla.conf").read_text()
    proxy = re.search(r"location / \{.*?\n    \}", site, re.S).group(0)
    servers = "".join(f"    server 127.0.0.1:{upstream} max_fails=0;\n" for upstream in upstreams)
    config = folder / "nginx.conf"
    config.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/nginx-error.log;\n"
        "worker_processes 1;\nevents { worker_connections 1024; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {folder}/body;\n"
        f"  proxy_temp_path {folder}/proxy;\n"
        f"  upstream ventanilla {{\n{servers}    keepalive 16;\n  }}\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 26m;\n"
        f"    {proxy}\n  }}\n}}\n")
    return config


def flask(env: dict, *args: str) -> str:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT,  # noqa: S603
                          env=env, check=True, capture_output=True, text=True).stdout


# ---------------------------------------------------------------- the run

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    options = parser.parse_args()
    if not shutil.which("nginx"):
        parser.error("Debian's nginx is needed (apt-get install nginx)")
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    queue = f"soak-{uuid.uuid4().hex[:8]}"
    processes: dict[str, subprocess.Popen] = {}
    sink = MailSink()
    try:
        with scratch_database(options.postgres) as database_url:
            ports = {"a": free_port(), "b": free_port(), "nginx": free_port()}
            base = f"http://127.0.0.1:{ports['nginx']}"
            env = {**{key: value for key, value in os.environ.items()
                      if not key.startswith("PORTAL_")},
                   "PORTAL_INSTANCE_PATH": str(folder / "instance"),
                   "PORTAL_DATABASE_URL": database_url, "PORTAL_REDIS_URL": options.redis,
                   "PORTAL_JOBS_QUEUE": queue, "PORTAL_SEARCH_BACKEND": "postgresql",
                   "PORTAL_SECRET_KEY": "soak-" + uuid.uuid4().hex, "PORTAL_PROXY_HOPS": "1",
                   "PORTAL_BASE_URL": base, "PORTAL_MAIL_SERVER": "127.0.0.1",
                   "PORTAL_MAIL_PORT": str(sink.port), "PORTAL_MAIL_USE_TLS": "false",
                   # One load generator is one address: the limits would refuse it.
                   "PORTAL_RATELIMIT_ENABLED": "false"}
            flask(env, "db", "upgrade")
            accounts = flask(env, "portal", "demo")
            password = re.search(r"movilidad@ventanilla.example\s+(\S+)", accounts).group(1)
            manager = re.search(r"gestora@ventanilla.example\s+(\S+)", accounts).group(1)
            from sqlalchemy import create_engine, text

            engine = create_engine(database_url)
            with engine.connect() as connection:
                articles = [row[0] for row in connection.execute(text(
                    "SELECT id FROM articles WHERE status = 'published' LIMIT 50"))]
                ideas = [row[0] for row in connection.execute(text(
                    "SELECT id FROM ideas LIMIT 50"))]
                before = connection.execute(text("SELECT count(*) FROM cases")).scalar_one()
            logs = {name: folder / f"{name}.log" for name in ("a", "b", "worker", "nginx")}
            processes["a"] = gunicorn(ports["a"], env, logs["a"])
            processes["b"] = gunicorn(ports["b"], env, logs["b"])
            worker_command = [str(BIN / "flask"), "--app", "wsgi", "portal", "worker"]
            processes["worker"] = start(worker_command, env, logs["worker"])
            for name in ("a", "b"):
                wait_up(f"http://127.0.0.1:{ports[name]}")
            config = nginx_config(folder, ports["nginx"], [ports["a"], ports["b"]])
            processes["nginx"] = start(["nginx", "-p", str(folder), "-c", str(config),
                                        "-g", "daemon off;"], env, logs["nginx"])
            wait_up(base)
            print(f"2 CPUs; servers A :{ports['a']} and B :{ports['b']} (2 workers x 4 "
                  f"threads), a worker, nginx :{ports['nginx']}; {options.clients} clients "
                  f"and 2 agents for {options.duration} s")

            recorder, stopping, answered = Recorder(), threading.Event(), set()
            threads = [threading.Thread(target=citizen, args=(base, recorder, stopping,
                                                              seed, articles, ideas))
                       for seed in range(options.clients)]
            threads += [threading.Thread(target=agent, args=(
                f"http://127.0.0.1:{ports[name]}", "movilidad@ventanilla.example", password,
                recorder, stopping, answered)) for name in ("a", "b")]
            cpu_before = cpu_by_program()
            began = time.monotonic()
            for thread in threads:
                thread.start()
            restarts = []
            time.sleep(options.duration / 3)
            restarts.append(("server A", time.monotonic()))
            stop_process(processes["a"])
            processes["a"] = gunicorn(ports["a"], env, logs["a"])
            time.sleep(max(0.0, began + options.duration / 2 - time.monotonic()))
            restarts.append(("worker", time.monotonic()))
            stop_process(processes["worker"], timeout=60)
            processes["worker"] = start(worker_command, env, logs["worker"])
            time.sleep(max(0.0, began + options.duration - time.monotonic()))
            stopping.set()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            cpu = cpu_by_program()
            cpu.subtract(cpu_before)

            # Let the worker finish: the outbox empties.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    pending = connection.execute(text(
                        "SELECT count(*) FROM outbox_messages WHERE status <> 'sent'"
                    )).scalar_one()
                if not pending:
                    break
                time.sleep(1)

            # ---------------------------------------------------- checks
            lost, missing_files = [], []
            uploads = folder / "instance" / "uploads"
            with engine.connect() as connection:
                for reference, _email in recorder.accepted:
                    row = connection.execute(text(
                        "SELECT c.id, a.content_hash FROM cases c LEFT JOIN attachments a "
                        "ON a.case_id = c.id WHERE c.reference = :reference"),
                        {"reference": reference}).first()
                    if row is None:
                        lost.append(reference)
                    elif row[1] is None or not (uploads / row[1][:2] / row[1]).is_file():
                        missing_files.append(reference)
                cases = connection.execute(text("SELECT count(*) FROM cases")).scalar_one()
            # Each message once: no recipient gets the same message twice (each case
            # gets one confirmation and at most one agent's answer, all different texts).
            received = sink.received()
            copies = Counter(received)
            unsent = [reference for reference, email in recorder.accepted
                      if not any(reference in subject or reference in body
                                 for to, subject, body in received if to == email)]
            duplicates = [key[:2] for key, count in copies.items() if count > 1]

            # An article published through A is found through B at once.
            editor = Client(f"http://127.0.0.1:{ports['a']}")
            found_on_b = False
            if editor.sign_in("gestora@ventanilla.example", manager):
                _status, page, _headers = editor.request("GET", "/staff/kb/new")
                tokens = dict(TOKEN.findall(page))
                status, _page, headers = editor.post_form("/staff/kb/new", {
                    "title": "Aparcamiento para bicicletas de carga", "locale": "es",
                    "department": "", "summary": "", "tags": "", "review_by": "",
                    "body": "Las bicicletas de carga aparcan en las plazas señalizadas.",
                    **tokens})
                article = re.search(r"/staff/kb/(\d+)", headers.get("Location") or "")
                if article:
                    _status, page, _headers = editor.request(
                        "GET", f"/staff/kb/{article.group(1)}")
                    tokens = dict(TOKEN.findall(page))
                    editor.post_form(f"/staff/kb/{article.group(1)}/publish", tokens)
                    _status, page, _headers = Client(f"http://127.0.0.1:{ports['b']}").request(
                        "GET", "/kb?q=" + quote("bicicletas carga"))
                    found_on_b = "Aparcamiento para bicicletas de carga" in page

            # ---------------------------------------------------- figures
            requests = sum(len(values) for values in recorder.timings.values())
            print(f"\n{requests:,} requests in {elapsed:.1f} s: {requests / elapsed:,.1f} "
                  f"requests/s; {len(recorder.accepted):,} submissions accepted of "
                  f"{recorder.submissions_tried:,} sent: "
                  f"{len(recorder.accepted) / elapsed:.1f} complete submissions/s "
                  f"(form fetched and sent, with a photo); {recorder.replies} staff replies")
            print(f"{'endpoint':<14} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
            for endpoint, values in sorted(recorder.timings.items()):
                print(f"{endpoint:<14} {len(values):>9,} {percentile(values, .5):8.1f} "
                      f"{percentile(values, .95):8.1f} {percentile(values, .99):8.1f}")
            total_cpu = sum(value for value in cpu.values() if value > 0)
            print(f"CPU during the load ({elapsed * (os.cpu_count() or 1):.0f} core-seconds "
                  "available): " + ", ".join(
                      f"{kind} {value:.0f} s ({value / total_cpu:.0%})"
                      for kind, value in cpu.most_common() if value > 0.5))
            print("answers by status: " + ", ".join(
                f"{status or 'no answer'}: {count:,}" for status, count in
                sorted(recorder.statuses.items())))

            def in_window(when: float) -> bool:
                return any(0 <= when - at <= RESTART_WINDOW for _name, at in restarts)

            inside = [error for error in recorder.errors if in_window(error[0])]
            outside = [error for error in recorder.errors if not in_window(error[0])]
            print("restarts: " + ", ".join(f"{name} at {at - began:.0f} s"
                                            for name, at in restarts))
            print(f"5xx or no answer: {len(inside)} within {RESTART_WINDOW:.0f} s of a "
                  f"restart, {len(outside)} outside"
                  + (f" ({Counter((e[1], e[2]) for e in outside).most_common(5)})"
                     if outside else ""))
            print(f"cases in the database: {cases - before:,} new for "
                  f"{len(recorder.accepted):,} accepted")
            print(f"lost submissions: {len(lost)}; without their file: {len(missing_files)}; "
                  f"confirmations never sent: {len(unsent)}; duplicate emails: "
                  f"{len(duplicates)}; outbox still pending: {pending}")
            print(f"article published through A found through B at once: "
                  f"{'yes' if found_on_b else 'NO'}")
            engine.dispose()
            failed = lost or missing_files or duplicates or unsent or not found_on_b
            return 1 if failed else 0
    finally:
        for process in processes.values():
            stop_process(process)
        sink.stop()
        try:
            from redis import Redis

            connection = Redis.from_url(options.redis)
            for key in connection.scan_iter(f"*{queue}*"):
                connection.delete(key)
        except Exception as error:  # noqa: BLE001 - cleaning up; say it and go on
            print(f"(Redis keys of {queue} not removed: {error})")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
