# The two commands (README.md): `make run` and `make test`.
.PHONY: run test build bench e2e fuzz check-deploy keys up clean

run:
	scripts/run

test:
	scripts/test

build:
	swift build

bench:
	scripts/bench

e2e:
	scripts/e2e

fuzz:
	scripts/fuzz

check-deploy:
	scripts/check-deploy

# Signing keys under .dev/keys, for docker-compose (make run makes them itself).
keys: build
	BIN=$$(swift build --show-bin-path) bash -c 'source scripts/lib.sh && ensure_keys'

# The suite in containers, run as you so the services can read their key files.
up: keys
	UID=$$(id -u) GID=$$(id -g) docker compose up --build

clean:
	rm -rf .build .build-* .dev
