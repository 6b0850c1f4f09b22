# Shared by scripts/run, scripts/e2e and scripts/bench: install what is missing, run a
# PostgreSQL cluster under a state folder, make signing keys, start the four services
# and the nginx gateway, wait for them, and stop it all. Source it; set STATE first.
#
# Settings (environment): STATE (folder for cluster, keys, logs), PG_PORT, GATEWAY_PORT,
# PORT_BASE (services listen on PORT_BASE+1 … +4), BIN (folder of the executables).

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=(meet-rooms identity-associations user-identity oidc-vault)
: "${STATE:=$ROOT/.dev}"
: "${PG_PORT:=15432}"  # below 32768, the kernel's ephemeral range
: "${GATEWAY_PORT:=8080}"
: "${PORT_BASE:=8080}"
: "${S3_PORT:=$((PORT_BASE + 10))}"  # the local S3 server (moto) for user-identity's documents
PIDS=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

# Installs the Debian packages that are missing (name of package, command it provides).
ensure_packages() {
    local missing=()
    while [ $# -gt 0 ]; do
        local package=$1 probe=$2; shift 2
        if ! command -v "$probe" >/dev/null 2>&1 && ! [ -e "$probe" ]; then missing+=("$package"); fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_runtime_packages() {
    ensure_packages postgresql "$(pg_bin)/pg_ctl" nginx-light nginx curl curl \
        libssl-dev /usr/include/openssl/ssl.h libcurl4-openssl-dev /usr/include/x86_64-linux-gnu/curl/curl.h \
        libpq-dev /usr/include/postgresql/libpq-fe.h
}

# The newest PostgreSQL server binaries on the machine.
pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ]; then echo "$dir"; else dirname "$(command -v pg_ctl || echo /usr/lib/postgresql/none/bin/pg_ctl)"; fi
}

# initdb and pg_ctl refuse to run as root: run them as the postgres user then.
pg_as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
    local bin data=$STATE/pg/data run=$STATE/pg/run
    bin=$(pg_bin)
    mkdir -p "$STATE/pg" "$run" "$STATE/logs"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$STATE/pg"
    if [ ! -f "$data/PG_VERSION" ]; then
        log "creating a PostgreSQL cluster in $data"
        pg_as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >"$STATE/logs/initdb.log"
    fi
    if ! pg_as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        if ! pg_as_owner "$bin/pg_ctl" -D "$data" -l "$STATE/pg/server.log" -w -t 60 \
            -o "-p $PG_PORT -k $run -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null; then
            # Say why, before the state folder (and its log) is cleaned up.
            tail -n 20 "$STATE/pg/server.log" >&2 || true
            die "PostgreSQL did not start on port $PG_PORT (see above)"
        fi
    fi
    PG_STARTED=1
    # The suite's database, schemas and roles (init.sql is safe to run again).
    psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'suite'" | grep -q 1 || psql_admin -c "CREATE DATABASE suite" >/dev/null
    psql_admin -d suite -v ON_ERROR_STOP=1 -f "$ROOT/deploy/postgres/init.sql" >/dev/null
}

psql_admin() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -X -q "$@"; }

stop_postgres() {
    [ -n "${PG_STARTED:-}" ] || return 0
    pg_as_owner "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true
}

# One Ed25519 key per service, kept between runs.
ensure_keys() {
    mkdir -p "$STATE/keys"
    chmod 700 "$STATE/keys"
    for service in "${SERVICES[@]}"; do
        [ -s "$STATE/keys/$service.key" ] || "$BIN/$service" keys generate >"$STATE/keys/$service.key"
    done
    [ -s "$STATE/keys/postgres.password" ] || head -c 18 /dev/urandom | base64 >"$STATE/keys/postgres.password"
    # The vault's operator key (X-API-Key with every scope) and its at-rest key.
    [ -s "$STATE/keys/vault-admin.key" ] || { printf 'vk_'; head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; } >"$STATE/keys/vault-admin.key"
    [ -s "$STATE/keys/vault-encryption.key" ] || head -c 32 /dev/urandom | base64 >"$STATE/keys/vault-encryption.key"
    # The local S3 server's secret key (its access key id is S3_ACCESS_KEY_ID); it may
    # start with '-', so it is always passed as --secret-access-key=….
    [ -s "$STATE/keys/s3-secret.key" ] || head -c 30 /dev/urandom | base64 | tr '+/' '-_' >"$STATE/keys/s3-secret.key"
    chmod 600 "$STATE/keys/"*
}

service_port() {
    case $1 in
        meet-rooms) echo $((PORT_BASE + 1)) ;; identity-associations) echo $((PORT_BASE + 2)) ;;
        user-identity) echo $((PORT_BASE + 3)) ;; oidc-vault) echo $((PORT_BASE + 4)) ;;
    esac
}
service_schema() {
    case $1 in meet-rooms) echo meet ;; identity-associations) echo identity ;; user-identity) echo uai ;; oidc-vault) echo vault ;; esac
}
service_directory() {
    case $1 in
        meet-rooms) echo MeetRooms ;; identity-associations) echo IdentityAssociations ;;
        user-identity) echo UserIdentity ;; oidc-vault) echo OIDCVault ;;
    esac
}
service_prefix() {
    case $1 in
        meet-rooms) echo /external-api ;; identity-associations) echo /_matrix/identity ;;
        user-identity) echo /uai ;; oidc-vault) echo /vault ;;
    esac
}

# The environment a service runs with, in SERVICE_ENV (an array for `env`). The cluster
# is on this machine, so services reach it by its Unix socket (no TCP stack per query).
service_env() {
    local service=$1 schema port trusted="" peer
    schema=$(service_schema "$service")
    port=$(service_port "$service")
    for peer in "${SERVICES[@]}"; do
        [ "$peer" = "$service" ] && continue
        trusted+="${trusted:+,}$peer=http://127.0.0.1:$(service_port "$peer")/internal/jwks.json"
    done
    SERVICE_ENV=(HOST=127.0.0.1 PORT="$port"
        PUBLIC_URL="http://localhost:$GATEWAY_PORT$(service_prefix "$service")"
        DATABASE_URL="postgres://$schema:$schema@127.0.0.1:$PG_PORT/suite?host=$STATE/pg/run" DATABASE_SCHEMA="$schema"
        SERVICE_SIGNING_KEY_FILE="$STATE/keys/$service.key" TRUSTED_SERVICES="$trusted"
        MEET_ROOMS_URL="http://127.0.0.1:$(service_port meet-rooms)"
        IDENTITY_ASSOCIATIONS_URL="http://127.0.0.1:$(service_port identity-associations)"
        USER_IDENTITY_URL="http://127.0.0.1:$(service_port user-identity)"
        OIDC_VAULT_URL="http://127.0.0.1:$(service_port oidc-vault)"
        MAIL_TRANSPORT="${MAIL_TRANSPORT:-file}" MAIL_DIR="$STATE/mail"
        IS_SERVER_NAME="${IS_SERVER_NAME:-localhost}" IS_SMS_DIR="$STATE/sms"
        UAI_CALLBACK_HOSTS="${UAI_CALLBACK_HOSTS:-localhost,127.0.0.1,app.example.com}"
        UAI_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" UAI_S3_BUCKET=documents UAI_S3_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID"
        UAI_S3_SECRET_ACCESS_KEY_FILE="$STATE/keys/s3-secret.key" UAI_SMS_DIR="$STATE/sms"
        SHUTDOWN_GRACE_SECONDS="${SHUTDOWN_GRACE_SECONDS:-0}"
        VAULT_ADMIN_API_KEY_FILE="$STATE/keys/vault-admin.key" VAULT_ENCRYPTION_KEY_FILE="$STATE/keys/vault-encryption.key"
        LOG_LEVEL="${LOG_LEVEL:-info}" LOG_FORMAT="${LOG_FORMAT:-json}")
    # Traces to an OTLP/HTTP collector when one is named (e2e starts a stand-in).
    if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
        SERVICE_ENV+=(OTEL_EXPORTER_OTLP_ENDPOINT="$OTEL_EXPORTER_OTLP_ENDPOINT" OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-200}")
    fi
}

S3_ACCESS_KEY_ID=AKIASUITEDEVELOPMENT

# A local S3-compatible server with the bucket "documents" (scripts/s3-server.py: moto
# from .dev/venv, refusing any request that is not a valid presigned URL).
start_s3() {
    local venv
    venv=$("$ROOT/scripts/venv")
    mkdir -p "$STATE/logs"
    "$venv/python" "$ROOT/scripts/s3-server.py" --port "$S3_PORT" --bucket documents \
        --access-key-id="$S3_ACCESS_KEY_ID" --secret-access-key="$(cat "$STATE/keys/s3-secret.key")" >>"$STATE/logs/s3.log" 2>&1 &
    PIDS+=($!)
    local i
    for i in $(seq 1 300); do  # a minute: moto imports slowly on a loaded machine
        (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.2
    done
    cat "$STATE/logs/s3.log" >&2
    die "the local S3 server did not start (see $STATE/logs/s3.log)"
}

start_services() {
    mkdir -p "$STATE/logs"
    for service in "${SERVICES[@]}"; do
        service_env "$service"
        env "${SERVICE_ENV[@]}" "$BIN/$service" serve >>"$STATE/logs/$service.log" 2>&1 &
        PIDS+=($!)
        eval "PID_${service//-/_}=$!"
    done
}

# Registers a meet-rooms application with every scope (once per state folder; its
# client id and secret are kept in keys/<name>.application) and sets APP_CLIENT_ID and
# APP_SECRET.
ensure_application() {
    local name=${1:-demo} file="$STATE/keys/${1:-demo}.application"
    if [ ! -s "$file" ]; then
        service_env meet-rooms
        env "${SERVICE_ENV[@]}" LOG_LEVEL=error "$BIN/meet-rooms" applications create --name "$name" \
            --scope rooms:list --scope rooms:retrieve --scope rooms:create --scope rooms:update --scope rooms:delete \
            | awk '$1 == "client_id:" || $1 == "secret:"' >"$file"
        chmod 600 "$file"
        log "registered the meet-rooms application $name"
    fi
    APP_CLIENT_ID=$(awk '$1 == "client_id:" {print $2}' "$file")
    APP_SECRET=$(awk '$1 == "secret:" {print $2}' "$file")
}

# Creates a uai_admin account (once per state folder) and prints its email and password:
# the bootstrap an operator does with `user-identity users create-admin`.
ensure_admin() {
    local email=${1:-admin@example.com}
    if [ ! -s "$STATE/keys/admin.password" ]; then
        head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$STATE/keys/admin.password"
        chmod 600 "$STATE/keys/admin.password"
    fi
    service_env user-identity
    if env "${SERVICE_ENV[@]}" LOG_LEVEL=error "$BIN/user-identity" users create-admin --email "$email" --fullname "Suite Admin" \
        <"$STATE/keys/admin.password" >/dev/null 2>"$STATE/logs/create-admin.log"; then
        log "created the admin $email"
    elif ! grep -q "already exists" "$STATE/logs/create-admin.log"; then
        cat "$STATE/logs/create-admin.log" >&2
        die "could not create the admin account"
    fi
    ADMIN_EMAIL=$email
    ADMIN_PASSWORD=$(cat "$STATE/keys/admin.password")
}

start_gateway() {
    mkdir -p "$STATE/nginx" "$STATE/logs"
    sed -e "s/127.0.0.1:8081/127.0.0.1:$(service_port meet-rooms)/" \
        -e "s/127.0.0.1:8082/127.0.0.1:$(service_port identity-associations)/" \
        -e "s/127.0.0.1:8083/127.0.0.1:$(service_port user-identity)/" \
        -e "s/127.0.0.1:8084/127.0.0.1:$(service_port oidc-vault)/" \
        "$ROOT/deploy/nginx/upstreams-local.conf" >"$STATE/nginx/upstreams.conf"
    # The API reference at /docs/ (Swagger UI's files come from PyPI, once, into .dev/cache),
    # readable by nginx's workers (nobody) when it runs as root; the keys keep mode 700.
    [ "$(id -u)" = 0 ] && chmod 755 "$STATE"
    # Without PyPI (and no cached copy) the suite still starts; only /docs/ answers 404.
    "$("$ROOT/scripts/venv")/python" "$ROOT/scripts/docs-site.py" "$STATE/docs" --cache "$ROOT/.dev/cache" >/dev/null 2>"$STATE/logs/docs-site.log" \
        || log "the API reference could not be built (see $STATE/logs/docs-site.log): /docs/ will answer 404"
    sed -e "s/listen 8080;/listen 127.0.0.1:$GATEWAY_PORT;/" -e "s#alias /usr/share/nginx/docs/;#alias $STATE/docs/;#" \
        "$ROOT/deploy/nginx/gateway.conf" >"$STATE/nginx/gateway.conf"
    cat >"$STATE/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $STATE/nginx/nginx.pid;
error_log $STATE/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log $STATE/logs/nginx-access.log;
    client_body_temp_path $STATE/nginx/body;
    proxy_temp_path $STATE/nginx/proxy;
    fastcgi_temp_path $STATE/nginx/fastcgi;
    uwsgi_temp_path $STATE/nginx/uwsgi;
    scgi_temp_path $STATE/nginx/scgi;
    include $STATE/nginx/upstreams.conf;
    include $STATE/nginx/gateway.conf;
}
CONF
    nginx -t -q -c "$STATE/nginx/nginx.conf" -e "$STATE/logs/nginx-error.log"
    nginx -c "$STATE/nginx/nginx.conf" -e "$STATE/logs/nginx-error.log" &
    PIDS+=($!)
    PID_gateway=$!
}

# Waits until every service answers ready through the gateway.
wait_ready() {
    local deadline=$((SECONDS + ${1:-60})) service url
    for service in "${SERVICES[@]}"; do
        url="http://127.0.0.1:$GATEWAY_PORT$(service_prefix "$service")/health/ready"
        until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; do
            if [ $SECONDS -ge $deadline ]; then
                tail -n 20 "$STATE/logs/$service.log" >&2 || true
                die "$service is not ready at $url"
            fi
            sleep 0.2
        done
    done
}

# SIGTERM to everything started, then wait: services drain in-flight requests.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    stop_postgres
}
