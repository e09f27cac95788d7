# CIS AWS Foundations v1.4-v3.0 control 4.9 (AWS Config configuration changes)
# as a jq filter -- the "jq baseline" of tests/bench/run_bench.sh.
#
# Invocation used by the benchmark (one jq process over the concatenated
# stream of all decompressed files; jq reads one {"Records":[...]} document
# after another):
#
#   igzip -dc DIR/*.json.gz | jq -c -f tests/bench/jq_filter.jq
#
# This is the fairest form we found for jq 1.6: a single process (no start-up
# per file), decompression by igzip in a separate process (so it runs on the
# other core), and the event-name test written as a chain of == on a bound
# variable, which measured faster than IN(...) or two select()s.
.Records[]
| select(.eventSource == "config.amazonaws.com"
         and (.eventName as $n
              | $n == "StopConfigurationRecorder"
                or $n == "DeleteDeliveryChannel"
                or $n == "PutDeliveryChannel"
                or $n == "PutConfigurationRecorder"))
