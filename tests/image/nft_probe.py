"""Real traffic against the appliance firewall, inside throw-away network namespaces.

Run as ``unshare -rnm --propagation private python3 nft_probe.py RULESET``: the new network namespace plays
the appliance (ruleset loaded, listeners on 443 and 8443), a second one ("lan", made here) plays a LAN
client, joined by a veth pair. Only addresses inside these namespaces are used. Prints one JSON object:
probe name -> "open" | "refused" | "dropped".
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

APPLIANCE, CLIENT = "192.168.77.1", "192.168.77.2"  # LAN (private range)
APPLIANCE_PUBLIC, CLIENT_PUBLIC = "198.51.100.1", "198.51.100.2"  # TEST-NET-2: not a LAN address

CONNECT = """
import socket, sys
host, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.settimeout(1.0)
if source:
    s.bind((source, 0))
try:
    s.connect((host, port))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("dropped")
"""


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def listen(host: str, port: int) -> socket.socket:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv


def probe(host: str, port: int, *, source: str = "", from_lan: bool) -> str:
    cmd = [sys.executable, "-c", CONNECT, host, str(port), source]
    if from_lan:
        cmd = ["nsenter", "--net=/run/netns/lan", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()


def main(ruleset: str) -> None:
    sh("mount", "-t", "tmpfs", "tmpfs", "/run")
    sh("mkdir", "-p", "/run/netns")
    sh("ip", "netns", "add", "lan")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    sh("ip", "link", "set", "veth1", "netns", "lan")
    for addr in (APPLIANCE, APPLIANCE_PUBLIC):
        sh("ip", "addr", "add", f"{addr}/24", "dev", "veth0")
    sh("ip", "link", "set", "veth0", "up")
    for addr in (CLIENT, CLIENT_PUBLIC):
        sh("ip", "-n", "lan", "addr", "add", f"{addr}/24", "dev", "veth1")
    sh("ip", "-n", "lan", "link", "set", "veth1", "up")
    sh("ip", "-n", "lan", "link", "set", "lo", "up")
    if ruleset != "none":  # "none": the control run, proving the probes see open ports when nothing filters
        sh("nft", "-f", ruleset)

    listeners = [listen("0.0.0.0", 443), listen("0.0.0.0", 8443), listen("0.0.0.0", 22)]
    # Servers on the LAN side that the appliance must not be able to reach.
    lan_servers = subprocess.Popen(
        ["nsenter", "--net=/run/netns/lan", sys.executable, "-c",
         "import socket,time\nss=[]\nfor p in (80,445,53):\n s=socket.socket();s.bind(('0.0.0.0',p));"
         "s.listen();ss.append(s)\nprint('up',flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert lan_servers.stdout is not None
    lan_servers.stdout.readline()
    try:
        probes = {
            "lan_to_https": (APPLIANCE, 443, CLIENT, True),
            "lan_to_8443": (APPLIANCE, 8443, CLIENT, True),
            "lan_to_ssh_port": (APPLIANCE, 22, CLIENT, True),
            "non_lan_source_to_https": (APPLIANCE_PUBLIC, 443, CLIENT_PUBLIC, True),
            "appliance_to_lan_http": (CLIENT, 80, "", False),
            "appliance_to_lan_smb": (CLIENT, 445, "", False),
            "appliance_to_lan_dns": (CLIENT, 53, "", False),
            "appliance_loopback": ("127.0.0.1", 8443, "", False),
        }
        with ThreadPoolExecutor(len(probes)) as pool:
            futures = {name: pool.submit(probe, host, port, source=src, from_lan=lan)
                       for name, (host, port, src, lan) in probes.items()}
            results = {name: f.result() for name, f in futures.items()}
    finally:
        lan_servers.kill()
        for srv in listeners:
            srv.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
