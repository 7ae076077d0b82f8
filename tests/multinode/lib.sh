# Shared helpers of the multi-node tests: a throw-away PostgreSQL cluster, durastream
# nodes on it, and nginx round-robin in front of them. Source it, then call `mn_cleanup`
# (an EXIT trap is installed).
#
# Needs: PostgreSQL server binaries (Debian: postgresql) and nginx (scripts/setup installs
# both). PostgreSQL refuses to run as root, so as root the cluster runs as `postgres`.

MN_DIR="$(mktemp -d /tmp/durastream-mn.XXXXXX)"
chmod 755 "$MN_DIR"
MN_PIDS=()
MN_PG_BIN=""
MN_PG_PORT=""
MN_PG_URL=""

mn_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

mn_pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [[ -z $d ]] && command -v pg_ctl >/dev/null; then d="$(dirname "$(command -v pg_ctl)")"; fi
  [[ -x $d/initdb ]] || { echo "PostgreSQL server binaries not found (run scripts/setup)" >&2; return 1; }
  echo "$d"
}

# Runs a PostgreSQL tool as the cluster's owner.
mn_as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Creates and starts the cluster; sets MN_PG_URL.
mn_pg_start() {
  MN_PG_BIN="$(mn_pg_bin)" || return 1
  MN_PG_PORT="$(mn_free_port)"
  mkdir -p "$MN_DIR/pg"
  [[ $(id -u) == 0 ]] && chown postgres "$MN_DIR/pg"
  mn_as_pg "$MN_PG_BIN/initdb" -D "$MN_DIR/pg/data" -U postgres -A trust --no-sync -E UTF8 >"$MN_DIR/initdb.log" 2>&1 \
    || { cat "$MN_DIR/initdb.log"; return 1; }
  cat >>"$MN_DIR/pg/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $MN_PG_PORT
unix_socket_directories = '$MN_DIR/pg'
max_connections = 200
shared_buffers = 128MB
CONF
  mn_pg_ctl_start
  MN_PG_URL="postgres://postgres@127.0.0.1:$MN_PG_PORT/postgres"
}

mn_pg_ctl_start() {
  mn_as_pg "$MN_PG_BIN/pg_ctl" -D "$MN_DIR/pg/data" -l "$MN_DIR/pg/server.log" -w -t 60 start >/dev/null \
    || { tail -20 "$MN_DIR/pg/server.log"; return 1; }
}

# Stops the cluster like a crash (`-m immediate`) or cleanly (`-m fast`).
mn_pg_stop() {
  mn_as_pg "$MN_PG_BIN/pg_ctl" -D "$MN_DIR/pg/data" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1
}

# Starts node N (1, 2, ...) on the database with extra flags; sets MN_NODE_PORT[N].
declare -A MN_NODE_PORT MN_NODE_PID
mn_node_start() {
  local n=$1; shift
  local port=${MN_NODE_PORT[$n]:-$(mn_free_port)}
  MN_NODE_PORT[$n]=$port
  DURASTREAM_LOG="${DURASTREAM_LOG:-warn}" "$DURASTREAM_BIN" serve --bind "127.0.0.1:$port" \
    --store "$MN_PG_URL" "$@" >>"$MN_DIR/node$n.log" 2>&1 &
  MN_NODE_PID[$n]=$!
  MN_PIDS+=("$!")
  mn_wait_port "$port" || { tail -20 "$MN_DIR/node$n.log"; return 1; }
}

mn_node_kill() {
  local n=$1 pid=${MN_NODE_PID[$1]}
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

mn_wait_port() {
  local i
  for i in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# Starts nginx round-robin over the nodes given by number; sets MN_LB_URL. The test-only
# fault endpoint (--test-faults) keeps its faults in each node, so nginx sends every fault
# request to all nodes (the first answers, the others get mirrored copies).
mn_nginx_start() {
  local port servers="" n mirrors="" first="" i=0
  port="$(mn_free_port)"
  for n in "$@"; do
    servers+="    server 127.0.0.1:${MN_NODE_PORT[$n]} max_fails=0;"$'\n'
    if [[ -z $first ]]; then first=${MN_NODE_PORT[$n]}; continue; fi
    i=$((i + 1))
    mirrors+="    location = /_mirror$i { internal; proxy_pass http://127.0.0.1:${MN_NODE_PORT[$n]}/_test/inject-error; }"$'\n'
  done
  mkdir -p "$MN_DIR/nginx"
  cat >"$MN_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $MN_DIR/nginx/nginx.pid;
error_log $MN_DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $MN_DIR/nginx/body;
  proxy_temp_path $MN_DIR/nginx/proxy;
  fastcgi_temp_path $MN_DIR/nginx/fastcgi;
  uwsgi_temp_path $MN_DIR/nginx/uwsgi;
  scgi_temp_path $MN_DIR/nginx/scgi;
  client_max_body_size 0;
  upstream durastream {
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
$mirrors    location = /_test/inject-error {
$(for j in $(seq 1 $i); do echo "      mirror /_mirror$j;"; done)
      mirror_request_body on;
      proxy_pass http://127.0.0.1:$first;
    }
    location / {
      proxy_pass http://durastream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 120s;
      # A node killed mid-request: the client sees the error and retries itself.
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
    }
  }
}
CONF
  nginx -c "$MN_DIR/nginx/nginx.conf" -g 'daemon off;' -e "$MN_DIR/nginx/error.log" >>"$MN_DIR/nginx/out.log" 2>&1 &
  MN_PIDS+=("$!")
  MN_NGINX_PID=$!
  mn_wait_port "$port" || { cat "$MN_DIR/nginx/error.log"; return 1; }
  MN_LB_URL="http://127.0.0.1:$port"
}

mn_cleanup() {
  local p
  for p in "${MN_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${MN_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [[ -n $MN_PG_BIN ]] && mn_pg_stop immediate
  if [[ -n ${MN_KEEP_LOGS:-} ]]; then echo "logs kept in $MN_DIR"; else rm -rf "$MN_DIR"; fi
}
trap mn_cleanup EXIT
