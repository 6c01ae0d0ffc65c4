#!/bin/sh
# One-shot operator for docker-compose: creates the heart-disease federation (published to the
# on-prem directory, GCS and Azure), writes one invitation per member into /shared, then opens
# each round as soon as the previous one has closed. Commands are the CLI's (see `tessera help`).
set -eu
OP="--url http://aggregator:8080 --token-file /data/operator.token"
until [ -s /data/operator.token ]; do sleep 1; done
if [ ! -s /shared/federation-id ]; then
  tessera federation create examples/heart-disease/federation.multicloud.json $OP | awk '{print $2}' > /shared/federation-id.tmp
  mv /shared/federation-id.tmp /shared/federation-id
  FID=$(cat /shared/federation-id)
  for member in cleveland hungary switzerland va-long-beach; do
    tessera invite "$FID" "$member" $OP | tail -n 1 > "/shared/$member.token"
  done
fi
FID=$(cat /shared/federation-id)
ROUNDS=15
r=1
while [ "$r" -le "$ROUNDS" ]; do
  # Refused while members are still enrolling or the previous round is open: wait and retry.
  until tessera round start "$FID" $OP; do sleep 3; done
  r=$((r + 1))
done
tessera rounds "$FID" $OP
