#!/usr/bin/env bash
# Submit-and-wait and batches with real processes: POST /jobs?wait= answers
# with the finished job, or 202 with the job as it stands when the wait runs
# out; a cancel ends a wait at once; beyond --max-waiting a client gets 503
# with Retry-After (nothing stored) while other requests are still served;
# meshctl submit --wait uses the wait and falls back to polling; a batch is
# stored in one piece and runs.
# shellcheck disable=SC2317
. "$(dirname "$0")/lib.sh"

start_coordinator --http-threads 8 --max-waiting 2
start_agent solo --capacity 4
check "agent registered" wait_until 10 nodes_registered 1

# post_wait SECONDS BODY OUT: POST /jobs?wait=SECONDS; the answer's body goes to OUT, its status to OUT.status.
post_wait() {
	curl -s --max-time 70 -o "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "$2" "$COORD_URL/jobs?wait=$1" >"$3.status"
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# Twenty in a row, each answered as soon as it ends, not when the wait runs
# out (the handler watches a new job before the dispatcher hears of it).
t0=$(now_ms)
for i in $(seq 20); do
	post_wait 5 '{"type":"echo","payload":"waited for"}' "$WORK/short"
	[ "$(cat "$WORK/short.status") $(jq -r .status "$WORK/short")" = "201 COMPLETED" ] || break
done
check_eq "a short job: 201 once it has finished" "201" "$(cat "$WORK/short.status")"
check_eq "with its result" "COMPLETED waited for" "$(jq -r '"\(.status) \(.result)"' "$WORK/short")"
check "20 short jobs waited for in under 5 s in all" test $(($(now_ms) - t0)) -lt 5000
# The answer is the job as stored (the dispatcher hands it over as it
# commits it): the same as reading it afterwards, attempts and times included.
check_eq "the answer is the job as GET /jobs/{id} gives it" \
	"$(api_get "/jobs/$(jq -r .id "$WORK/short")" | jq -S -c .)" "$(jq -S -c . "$WORK/short")"

# With no job waiting, a waited-for job is stored RUNNING on the node at once
# (one commit); with a job waiting (here one no node runs), it queues behind
# as any job does, so it never jumps the queue.
check_contains "no job waiting: stored RUNNING at once" \
	"$(jq -r .id "$WORK/short") (echo) submitted and stored RUNNING on node" "$(cat "$COORD_LOG")"
stuck=$(curl -s -X POST --data-binary '{"type":"nothing-runs-this","payload":"x"}' "$COORD_URL/jobs" | jq -r .id)
waiting_one() { [ "$(curl -s "$COORD_URL/healthz" | jq .waiting_for_a_node)" = 1 ]; }
check "a job waits for a node" wait_until 10 waiting_one
post_wait 5 '{"type":"echo","payload":"queued like any job"}' "$WORK/behind"
check_eq "a job waits: the waited-for job still ends" "201 COMPLETED" \
	"$(cat "$WORK/behind.status") $(jq -r .status "$WORK/behind")"
check_contains "queued as usual" "$(jq -r .id "$WORK/behind") (echo) submitted"$'\n' "$(cat "$COORD_LOG")"
curl -s -X POST "$COORD_URL/jobs/$stuck/cancel" >/dev/null

# The same idempotency_key again, with a wait: the job it names has ended
# already, so the answer is that job, at once (200: not stored twice).
post_wait 5 '{"type":"echo","payload":"keyed","idempotency_key":"wait-key-1"}' "$WORK/keyed1"
t0=$(now_ms)
post_wait 5 '{"type":"echo","payload":"keyed","idempotency_key":"wait-key-1"}' "$WORK/keyed2"
check_eq "a finished job submitted again with ?wait: 200 with it" "200 COMPLETED $(jq -r .id "$WORK/keyed1")" \
	"$(cat "$WORK/keyed2.status") $(jq -r '"\(.status) \(.id)"' "$WORK/keyed2")"
check "at once, not after the wait" test $(($(now_ms) - t0)) -lt 2000

t0=$(now_ms)
post_wait 1 '{"type":"sleep","payload":"3000"}' "$WORK/long"
check_eq "a job that outlasts the wait: 202" "202" "$(cat "$WORK/long.status")"
check_eq "with the job as it stands" "RUNNING" "$(jq -r .status "$WORK/long")"
check "after about the wait (1 s)" test $(($(now_ms) - t0)) -lt 2500

# A cancel ends a wait at once.
post_wait 20 '{"type":"sleep","payload":"20000"}' "$WORK/cancelled" &
waiter=$!
running_sleep() { api_get '/jobs?status=RUNNING&type=sleep&limit=10' | jq -e '[.jobs[] | select(.payload == "20000")] | length == 1' >/dev/null; }
check "the waited-for job runs" wait_until 10 running_sleep
id=$(api_get '/jobs?status=RUNNING&type=sleep&limit=10' | jq -r '.jobs[] | select(.payload == "20000") | .id')
t0=$(now_ms)
api_post "/jobs/$id/cancel" "" >/dev/null
wait "$waiter"
check "the wait ends soon after the cancel" test $(($(now_ms) - t0)) -lt 3000
check_eq "answering the CANCELLED job (201: it has ended)" "201 CANCELLED" "$(cat "$WORK/cancelled.status") $(jq -r .status "$WORK/cancelled")"

# Two clients may wait (--max-waiting 2); a third gets 503 and nothing is stored.
before=$(count_jobs type=sleep)
post_wait 10 '{"type":"sleep","payload":"2500"}' "$WORK/w1" &
w1=$!
post_wait 10 '{"type":"sleep","payload":"2500"}' "$WORK/w2" &
w2=$!
two_waiting() { [ "$(count_jobs type=sleep)" = $((before + 2)) ]; }
check "two clients wait" wait_until 10 two_waiting
status=$(curl -s --max-time 10 -D "$WORK/h3" -o "$WORK/w3.out" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' --data-binary '{"type":"sleep","payload":"2500"}' "$COORD_URL/jobs?wait=10")
check_eq "a third waiting client gets 503" "503" "$status"
check_contains "with Retry-After" "Retry-After: 1" "$(tr -d '\r' <"$WORK/h3")"
check_contains "saying why" "already waiting" "$(jq -r .error "$WORK/w3.out")"
check_eq "and nothing was stored for it" "$((before + 2))" "$(count_jobs type=sleep)"
t0=$(now_ms)
check_eq "meanwhile other requests are served" "200" "$(http_status "$COORD_URL/healthz")"
check "at once" test $(($(now_ms) - t0)) -lt 1000
wait "$w1" "$w2"
check_eq "the two waiting clients got their finished jobs" "201 201 COMPLETED COMPLETED" "$(cat "$WORK/w1.status") $(cat "$WORK/w2.status") $(jq -r .status "$WORK/w1") $(jq -r .status "$WORK/w2")"

# meshctl submit --wait rides on ?wait.
t0=$(now_ms)
out=$("$BIN/meshctl" --coordinator "$COORD_URL" submit sleep 300 --wait)
check_eq "meshctl submit --wait exits 0 for a completed job" "0" "$?"
check_contains "and prints it" "COMPLETED" "$out"
# --timeout counts from the start: the time the server held the request is part of it.
t0=$(now_ms)
"$BIN/meshctl" --coordinator "$COORD_URL" submit sleep 5000 --wait --timeout 1 >/dev/null 2>"$WORK/timeout.err"
check_eq "meshctl submit --wait --timeout 1 on a 5 s job exits 2 (timed out)" "2" "$?"
elapsed=$(($(now_ms) - t0))
check "after about 1 s, not 2 (took $elapsed ms)" test "$elapsed" -lt 1800
check_contains "saying so" "timed out after 1 s" "$(cat "$WORK/timeout.err")"

# A batch: one commit, all run.
batch=$(jq -cn '[range(0; 100) | {type: "echo", payload: "b\(.)"}]')
status=$(curl -s --max-time 20 -o "$WORK/batch.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary "$batch" "$COORD_URL/jobs")
check_eq "a batch of 100 is accepted with 201" "201" "$status"
check_eq "answered with the 100 jobs in order" "100 b0 b99" "$(jq -r '"\(length) \(.[0].payload) \(.[99].payload)"' "$WORK/batch.out")"
batch_done() { [ "$(api_get '/jobs?type=echo&status=COMPLETED&limit=10000' | jq '[.jobs[] | select(.payload | startswith("b"))] | length')" = 100 ]; }
check "all 100 complete" wait_until 30 batch_done
bad=$(jq -cn '[range(0; 5) | {type: "echo", payload: "c\(.)"}] | .[3].type = "bad type"')
status=$(curl -s --max-time 20 -o "$WORK/bad.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary "$bad" "$COORD_URL/jobs")
check_eq "a batch with a bad element is refused" "400" "$status"
check_contains "naming its index" "jobs[3]: field 'type'" "$(jq -r .error "$WORK/bad.out")"
check_eq "and nothing of it is stored" "0" "$(api_get '/jobs?type=echo&limit=10000' | jq '[.jobs[] | select(.payload | startswith("c"))] | length')"

check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
