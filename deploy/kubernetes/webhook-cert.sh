#!/bin/sh
# Without cert-manager: a CA and a serving certificate for the webhook's Service, the Secret the
# webhook mounts, and the caBundle the ValidatingWebhookConfiguration needs.
#   sh deploy/kubernetes/webhook-cert.sh [NAMESPACE]
# Needs openssl and kubectl. Renew before the certificate expires (825 days).
set -eu
NS=${1:-attest-system}
SVC=attest-webhook
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=compute-attest webhook CA" -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$SVC.$NS.svc" \
    -keyout "$DIR/tls.key" -out "$DIR/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\n' "$SVC" "$NS" "$SVC" "$NS" > "$DIR/san.ext"
openssl x509 -req -in "$DIR/tls.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial -days 825 \
    -extfile "$DIR/san.ext" -out "$DIR/tls.crt" 2>/dev/null
kubectl -n "$NS" create secret tls attest-webhook-tls --cert "$DIR/tls.crt" --key "$DIR/tls.key" \
    --dry-run=client -o yaml | kubectl apply -f -
CA=$(base64 < "$DIR/ca.crt" | tr -d '\n')
kubectl patch validatingwebhookconfiguration compute-attest --type=json \
    -p "[{\"op\": \"add\", \"path\": \"/webhooks/0/clientConfig/caBundle\", \"value\": \"$CA\"}]"
