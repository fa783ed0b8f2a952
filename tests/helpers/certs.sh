#!/usr/bin/env bash
# Test certificates for the TLS end-to-end tests, made with openssl.
#
#   certs.sh DIR    writes into DIR (created if missing):
#
#   ca.crt ca.key                 the CA the clients trust
#   server.crt server.key         for localhost and 127.0.0.1 (SANs), by ca
#   server-chain.pem              server.key + server.crt (Kafka's PEM keystore)
#   client.crt client.key         CN=shipper_cert, by ca (client-certificate auth)
#   wrong-name.crt wrong-name.key for wrong.example only, by ca: a name mismatch
#   wrong-name-chain.pem          its key + certificate
#   other-ca.crt other-ca.key     a second CA nobody trusts
#   untrusted.crt untrusted.key   for localhost and 127.0.0.1, by other-ca
#   untrusted-chain.pem           its key + certificate
#
# Keys are EC P-256 in PKCS#8, unencrypted, mode 0600; certificates are valid
# for 2 days (a test's lifetime), so nothing made here is worth stealing.
# Errors: "certs.sh: ..." on stderr and exit status 1.
set -euo pipefail

die() { echo "certs.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: certs.sh DIR"
command -v openssl >/dev/null || die "openssl not found"
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

new_key() {	# new_key NAME
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null \
		|| die "could not make key $1.key"
}

new_ca() {	# new_ca NAME SUBJECT
	new_key "$1"
	openssl req -new -x509 -key "$1.key" -out "$1.crt" -days 2 -subj "$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
		|| die "could not make CA $1.crt"
}

# new_cert NAME CA SUBJECT EXTENDED_USAGE [SAN]: a leaf certificate by CA.
new_cert() {
	local name=$1 ca=$2 subject=$3 usage=$4 san=${5:-} ext
	new_key "$name"
	ext=$(mktemp)
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$usage"
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$ext"
	openssl req -new -key "$name.key" -subj "$subject" 2>/dev/null |
		openssl x509 -req -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
			-days 2 -extfile "$ext" -out "$name.crt" 2>/dev/null \
		|| { rm -f "$ext"; die "could not make certificate $name.crt"; }
	rm -f "$ext"
}

chain() {	# chain NAME: key and certificate in one PEM file
	cat "$1.key" "$1.crt" >"$1-chain.pem"
}

new_ca ca "/CN=outbox_pg test CA"
new_ca other-ca "/CN=outbox_pg untrusted CA"
new_cert server ca "/CN=localhost" serverAuth "DNS:localhost,IP:127.0.0.1"
new_cert client ca "/CN=shipper_cert" clientAuth
new_cert wrong-name ca "/CN=wrong.example" serverAuth "DNS:wrong.example"
new_cert untrusted other-ca "/CN=localhost" serverAuth "DNS:localhost,IP:127.0.0.1"
chain server
chain wrong-name
chain untrusted
rm -f ./*.srl
chmod 0600 ./*.key ./*-chain.pem
chmod 0644 ./*.crt
