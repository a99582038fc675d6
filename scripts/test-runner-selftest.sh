#!/usr/bin/env bash
# Checks that ./test.sh cannot report green by accident. In a scratch copy of the repository's runner (test.sh,
# scripts/, the build props) with tiny throw-away test projects instead of the real suites, it plants one failure
# at a time - a failing test, a test host killed by Environment.FailFast, a hanging test, a test project that cannot
# load, a test project that never runs, a filter that selects nothing, a missing project, a corrupted TRX file - and
# asserts that test.sh exits non-zero with "failed" > 0 for each; and that clean runs pass with the exact counts.
#
#   scripts/test-runner-selftest.sh              checks ./test.sh
#   scripts/test-runner-selftest.sh OTHER.sh     checks another version (e.g. `git show REV:test.sh > /tmp/old.sh`)
#
# Exits 0 when every scenario behaved. .ci/run runs it before ./test.sh.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UNDER_TEST="$(realpath "${1:-$ROOT/test.sh}")"
SCENARIO_TIMEOUT="${MISLATA_SELFTEST_SCENARIO_TIMEOUT:-300}"
[ -f "$UNDER_TEST" ] || { echo "selftest: no such script: $UNDER_TEST"; exit 2; }
REAL_DOTNET="$(command -v dotnet)" || { echo "selftest: dotnet is not installed"; exit 2; }

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/mislata-runner-selftest.XXXXXX")"
trap '[ -n "${MISLATA_SELFTEST_KEEP:-}" ] || rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT TERM
started=$SECONDS

# --- the scratch repository -------------------------------------------------------------------------------------
mkdir -p "$SCRATCH/scripts" "$SCRATCH/shim" "$SCRATCH/tests"
cp "$UNDER_TEST" "$SCRATCH/test.sh"
chmod +x "$SCRATCH/test.sh"
cp "$ROOT"/scripts/*.sh "$ROOT"/scripts/*.py "$SCRATCH/scripts/" 2>/dev/null
cp "$ROOT/Directory.Build.props" "$ROOT/Directory.Packages.props" "$ROOT/global.json" "$SCRATCH/"
for f in NuGet.config nuget.config .editorconfig; do [ -f "$ROOT/$f" ] && cp "$ROOT/$f" "$SCRATCH/"; done

project() { # NAME EXTRA-PROPERTIES: a test project with the repository's test packages
  mkdir -p "$SCRATCH/tests/$1"
  cat > "$SCRATCH/tests/$1/$1.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <RootNamespace>$1</RootNamespace>
    $2
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.NET.Test.Sdk" />
    <PackageReference Include="xunit" />
    <PackageReference Include="xunit.runner.visualstudio" />
  </ItemGroup>
  <ItemGroup>
    <Using Include="Xunit" />
  </ItemGroup>
</Project>
XML
}

# Probe.Tests: three tests; the second does what SELFTEST_PLANT says.
project Probe.Tests ""
cat > "$SCRATCH/tests/Probe.Tests/ProbeTests.cs" <<'CS'
namespace Probe.Tests;

public sealed class ProbeTests
{
    [Fact]
    public void Passes() => Assert.Equal(2, 1 + 1);

    [Fact]
    public void Planted()
    {
        switch (Environment.GetEnvironmentVariable("SELFTEST_PLANT"))
        {
            case "fail":
                Assert.Fail("planted: a failing test");
                break;
            case "failfast":
                Environment.FailFast("planted: the test host crashes");
                break;
            case "hang":
                Thread.Sleep(Timeout.Infinite);
                break;
        }
    }

    [Fact]
    public void Passes_too() => Assert.Equal("ab", "a" + "b");
}
CS
# Second.Tests: one more passing project (a filter may select nothing in it, as long as the run selects something).
project Second.Tests ""
cat > "$SCRATCH/tests/Second.Tests/SecondTests.cs" <<'CS'
namespace Second.Tests;

public sealed class SecondTests
{
    [Fact]
    public void Passes_as_well() => Assert.NotEqual(0, 1);
}
CS
# Unloadable.Tests: builds, but its test host needs a runtime that does not exist, so it never loads.
project Unloadable.Tests "<RuntimeFrameworkVersion>10.0.999</RuntimeFrameworkVersion><RollForward>Disable</RollForward>"
# Idle.Tests: a *.Tests project of the solution that dotnet test does not run (it opted out of being a test project).
project Idle.Tests "<IsTestProject>false</IsTestProject>"
for name in Unloadable Idle; do
  cat > "$SCRATCH/tests/$name.Tests/${name}Tests.cs" <<CS
namespace $name.Tests;

public sealed class ${name}Tests
{
    [Fact]
    public void Would_pass() => Assert.True(true);
}
CS
done

solution() { # the scratch Mislata.slnx with these test projects
  {
    echo '<Solution>'
    echo '  <Folder Name="/tests/">'
    for name in "$@"; do echo "    <Project Path=\"tests/$name/$name.csproj\" />"; done
    echo '  </Folder>'
    echo '</Solution>'
  } > "$SCRATCH/Mislata.slnx"
}

# A dotnet that truncates the TRX files its "dotnet test" wrote when SELFTEST_CORRUPT_TRX is set.
cat > "$SCRATCH/shim/dotnet" <<SH
#!/usr/bin/env bash
"$REAL_DOTNET" "\$@"
status=\$?
if [ "\${1:-}" = test ] && [ -n "\${SELFTEST_CORRUPT_TRX:-}" ]; then
  previous=""
  for arg in "\$@"; do
    if [ "\$previous" = "--results-directory" ]; then
      find "\$arg" -name '*.trx' | while read -r trx; do head -c 300 "\$trx" > "\$trx.cut" && mv "\$trx.cut" "\$trx"; done
    fi
    previous="\$arg"
  done
fi
exit \$status
SH
chmod +x "$SCRATCH/shim/dotnet"

# --- the scenarios ----------------------------------------------------------------------------------------------
wrong=0
total=0
# scenario NAME EXPECTED ENV... [-- ARGS...]: EXPECTED is "fail" or "pass:N" (exit 0 and exactly N passed, 0 failed)
scenario() {
  local name="$1" expected="$2" env=() args=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do env+=("$1"); shift; done
  [ "${1:-}" = "--" ] && { shift; args=("$@"); }
  [[ "$name" =~ ${MISLATA_SELFTEST_ONLY:-.} ]] || return 0
  total=$((total + 1))
  local log="$SCRATCH/scenario-$total.log" status=0 t0=$SECONDS
  ( cd "$SCRATCH" && exec env PATH="$SCRATCH/shim:$PATH" "${env[@]}" timeout -k 20 "$SCENARIO_TIMEOUT" ./test.sh "${args[@]}" ) > "$log" 2>&1 || status=$?
  local last passed=-1 failed=-1
  last="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then passed="${BASH_REMATCH[1]}"; failed="${BASH_REMATCH[2]}"; fi
  local verdict="ok"
  case "$expected" in
    fail)
      if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then verdict="WRONG: test.sh did not finish within ${SCENARIO_TIMEOUT} s"
      elif [ "$status" -eq 0 ]; then verdict="WRONG: test.sh exited 0"
      elif [ "$failed" -le 0 ]; then verdict="WRONG: no failed count in the last line ('$last')"
      fi ;;
    pass:*)
      if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -ne "${expected#pass:}" ]; then
        verdict="WRONG: expected exit 0 and ${expected#pass:} passed, 0 failed"
      fi ;;
  esac
  printf 'selftest: %-45s %s (exit %s, "%s", %s s)\n' "$name" "$verdict" "$status" "$last" "$((SECONDS - t0))"
  if [ "$verdict" = ok ]; then
    grep -E "FAILED|failed" "$log" | grep -vE '^[0-9]+ passed' | head -3 | sed 's/^/    /'
  else
    wrong=$((wrong + 1))
    tail -25 "$log" | sed 's/^/    | /'
  fi
}

echo "== test runner self-test of $UNDER_TEST (scratch: $SCRATCH)"
# Every project is built once; the first run builds again through test.sh, the others skip the build.
solution Probe.Tests Second.Tests Unloadable.Tests Idle.Tests
"$REAL_DOTNET" build "$SCRATCH/Mislata.slnx" -c Release -nologo -v quiet > "$SCRATCH/build.log" 2>&1 \
  || { tail -30 "$SCRATCH/build.log"; echo "selftest: the scratch projects do not build"; exit 1; }
solution Probe.Tests Second.Tests
scenario "clean run passes"                    pass:4
export MISLATA_TEST_NO_BUILD=1
scenario "a filter selecting one test passes"  pass:1 -- --filter "FullyQualifiedName~Passes_too"
solution Probe.Tests
scenario "a failing test"                      fail SELFTEST_PLANT=fail
scenario "a crashed test host (FailFast)"      fail SELFTEST_PLANT=failfast
scenario "a hung test"                         fail SELFTEST_PLANT=hang MISLATA_TEST_HANG_TIMEOUT=15s
scenario "a filter that selects no test"       fail -- --filter "FullyQualifiedName~NoSuchTest"
scenario "a corrupted TRX file"                fail SELFTEST_CORRUPT_TRX=1
scenario "a named project that does not exist" fail MISLATA_TEST_PROJECTS="tests/Probe.Tests tests/Missing.Tests"
solution Probe.Tests Unloadable.Tests
scenario "a test project that cannot load"     fail
solution Probe.Tests Idle.Tests
scenario "a test project that never runs"      fail

echo "selftest: $((total - wrong))/$total scenarios behaved in $((SECONDS - started)) s"
[ "$wrong" -eq 0 ]
