#!/usr/bin/python3
"""notes: a small web application for vigil's real-application tests.

Standard library only. Users store files under names they choose, in a
directory named after them; an export packs a user's files into a
timestamped notes-<milliseconds>.tar.gz; every request is logged with a
timestamp. A malformed note is answered 400, and only that error path
imports traceback, as error paths do.

  PUT    /files/<user>/<name>   store the body (written to a temporary file, then renamed)
  GET    /files/<user>/<name>   fetch it;  GET /files/<user>/  lists the user's files
  DELETE /files/<user>/<name>   remove it
  POST   /notes/<user>          a JSON note {"title": ..., "text": ...}, stored as <title>.txt
  POST   /exports/<user>        pack the user's files; answers {"name": "notes-<ms>.tar.gz"}
  GET    /exports/<name>        fetch an export
  GET    /static/<name>         the application's own assets
  GET    /health                liveness
"""

import json
import os
import signal
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = os.environ.get("NOTES_DATA", "/var/lib/notes")
LOG = os.environ.get("NOTES_LOG", "/var/log/notes/notes.log")
PORT = int(os.environ.get("NOTES_PORT", "8080"))
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".html": "text/html"}
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

_log_lock = threading.Lock()
_log_file = None


def log(message):
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)
    with _log_lock:
        _log_file.write("%s %s\n" % (stamp, message))
        _log_file.flush()


def valid_name(name):
    return 0 < len(name) <= 100 and not name.startswith(".") and set(name) <= NAME_CHARS


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    server_version = "notes/1"

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def reply(self, status, body=b"", content_type="application/octet-stream"):
        if isinstance(body, str):
            body, content_type = body.encode(), "text/plain; charset=utf-8"
        elif isinstance(body, (dict, list)):
            body, content_type = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def route(self):
        parts = self.path.split("?", 1)[0].split("/")[1:]
        for part in parts[1:]:
            if part and not valid_name(part):
                raise BadRequest("bad name %r" % part)
        return parts

    def do_GET(self):
        self.dispatch(self.get)

    def do_HEAD(self):
        self.dispatch(self.get)

    def do_PUT(self):
        self.dispatch(self.put)

    def do_POST(self):
        self.dispatch(self.post)

    def do_DELETE(self):
        self.dispatch(self.delete)

    def dispatch(self, method):
        try:
            method(self.route())
        except BadRequest as e:
            import traceback  # only on this path: an error report for the log

            log("bad request %s %s: %s" % (self.command, self.path, "".join(traceback.format_exception_only(e)).strip()))
            self.reply(400, "bad request: %s\n" % e)

    def get(self, parts):
        if parts == ["health"]:
            self.reply(200, "ok\n")
        elif len(parts) == 2 and parts[0] == "static":
            self.send_file(os.path.join(STATIC, parts[1]), TYPES.get(os.path.splitext(parts[1])[1]))
        elif len(parts) == 3 and parts[0] == "files" and parts[2] == "":
            self.reply(200, sorted(os.listdir(user_dir(parts[1]))) if os.path.isdir(user_dir(parts[1])) else [])
        elif len(parts) == 3 and parts[0] == "files":
            self.send_file(os.path.join(user_dir(parts[1]), parts[2]))
        elif len(parts) == 2 and parts[0] == "exports":
            self.send_file(os.path.join(DATA, "exports", parts[1]), "application/gzip")
        else:
            self.reply(404, "not found\n")

    def send_file(self, path, content_type=None):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.reply(404, "not found\n")
            return
        self.reply(200, data, content_type or "application/octet-stream")

    def put(self, parts):
        if len(parts) != 3 or parts[0] != "files" or not parts[2]:
            raise BadRequest("PUT /files/<user>/<name>")
        store(parts[1], parts[2], self.body())
        log("stored %s/%s" % (parts[1], parts[2]))
        self.reply(201, "stored\n")

    def post(self, parts):
        if len(parts) == 2 and parts[0] == "notes":
            try:
                note = json.loads(self.body())
                title, text = note["title"], note["text"]
            except (ValueError, KeyError, TypeError) as e:
                raise BadRequest("not a note: %s" % e) from e
            if not valid_name(title):
                raise BadRequest("bad title %r" % title)
            store(parts[1], title + ".txt", text.encode())
            self.reply(201, "noted\n")
        elif len(parts) == 2 and parts[0] == "exports":
            self.reply(201, {"name": export(parts[1])})
        else:
            raise BadRequest("POST /notes/<user> or /exports/<user>")

    def delete(self, parts):
        if len(parts) != 3 or parts[0] != "files":
            raise BadRequest("DELETE /files/<user>/<name>")
        try:
            os.remove(os.path.join(user_dir(parts[1]), parts[2]))
        except FileNotFoundError:
            self.reply(404, "not found\n")
            return
        log("deleted %s/%s" % (parts[1], parts[2]))
        self.reply(204)


def user_dir(user):
    return os.path.join(DATA, "users", user)


def store(user, name, data):
    """Writes data to the user's file atomically: a temporary file, then a rename."""
    directory = user_dir(user)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(directory, name))


def export(user):
    """Packs the user's files into exports/notes-<milliseconds>.tar.gz."""
    directory = os.path.join(DATA, "exports")
    os.makedirs(directory, exist_ok=True)
    name = "notes-%d.tar.gz" % int(time.time() * 1000)
    with tarfile.open(os.path.join(directory, name), "w:gz") as tar:
        if os.path.isdir(user_dir(user)):
            tar.add(user_dir(user), arcname=user)
    log("exported %s to %s" % (user, name))
    return name


def main():
    global _log_file
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    _log_file = open(LOG, "a")
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    # As PID 1 of its container it gets no default SIGTERM action: stop as asked.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    log("notes listening on 127.0.0.1:%d, data in %s (python %s)" % (PORT, DATA, sys.version.split()[0]))
    server.serve_forever()


if __name__ == "__main__":
    main()
