#!/usr/bin/env bash
# count-results.sh RESULTS.xml: prints "PASSED FAILED SKIPPED" counted from the <test-case> elements of a Pester
# NUnit XML file (Success / Failure, Error / Ignored, Skipped, Inconclusive, NotRunnable); prints nothing and
# exits 1 when the file is missing or holds no test case (the run crashed or found no test).
xml=${1:?usage: count-results.sh RESULTS.xml}
[ -f "$xml" ] || exit 1
results=$(grep -o '<test-case [^>]*>' "$xml" | grep -o ' result="[A-Za-z]*"' | cut -d'"' -f2)
[ -n "$results" ] || exit 1
count() { grep -c -E "^($1)$" <<<"$results"; }
echo "$(count Success) $(count 'Failure|Error|Cancelled') $(count 'Ignored|Skipped|Inconclusive|NotRunnable')"
