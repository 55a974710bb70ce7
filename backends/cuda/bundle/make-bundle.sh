#!/usr/bin/env bash
# Builds the self-contained GPU bundle, for a CUDA host that has no Java:
#   bundle/hmm4j-gpu-bundle.tar.gz  (at the repository root; /bundle/ is git-ignored)
# containing
#   jdk/      a jlink'd JDK 25 runtime (java.base, jdk.unsupported, java.management, java.logging,
#             jdk.management, jdk.jfr; java.xml for the JUnit XML reports, jdk.zipfs for JUnit's
#             package scan of jars)
#   lib/      hmm4j runtime (+ its test jar: the conformance kit), the CUDA and emulated backends, the CUDA
#             backend's test classes, JCuda + its driver natives (only libJCudaDriver: the PTX-compiler,
#             NVRTC and runtime natives are dropped, hmm4j ships PTX), JUnit console standalone, AssertJ,
#             jqwik, JMH, and the CUDA benchmarks compiled from benchmarks/src/main/java/io/hmm4j/benchmarks/cuda
#   bench/    benchmarks/target/benchmarks.jar when it has been built (slimmed the same way)
#   run.sh    ./run.sh test [junit args]   runs the CUDA tests, prints the tree and a summary
#             ./run.sh bench [jmh args]    runs JMH over the io.hmm4j.benchmarks.cuda benchmarks
#             ./run.sh bench-all [jmh args] runs JMH from bench/benchmarks.jar (all of the project's benchmarks)
#             ./run.sh info                the JVM, the driver and whether the CUDA backend is available
# The archive must stay under 64 MiB; its size is printed at the end.
#
# Usage: backends/cuda/bundle/make-bundle.sh   (called by ./hmm4j gpu-bundle; HMM4J_BUNDLE_NO_BUILD=1 skips
# building the CUDA module and uses what is in backends/cuda/target and ~/.m2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"

java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1; }
find_jdk25() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/jlink" ] && [ "$(java_major "$JAVA_HOME")" -ge 25 ] 2>/dev/null; then
    echo "$JAVA_HOME"; return 0
  fi
  for candidate in /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    if [ -x "$candidate/bin/jlink" ] && [ "$(java_major "$candidate")" -ge 25 ] 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}
JAVA_HOME=$(find_jdk25) || { echo "make-bundle: no JDK 25 with jlink found (set JAVA_HOME)" >&2; exit 1; }
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
MVN=(mvn -B -ntp -q -Dstyle.color=never)
LIMIT=$((64 * 1024 * 1024))
NAME=hmm4j-gpu-bundle
OUT_DIR="$ROOT/bundle"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/$NAME"
mkdir -p "$STAGE/lib" "$STAGE/bench" "$OUT_DIR"
say() { echo "make-bundle: $*"; }

# 1. The CUDA module (its jar and compiled tests); the runtime and emulated backend come from ~/.m2.
if [ "${HMM4J_BUNDLE_NO_BUILD:-}" != 1 ]; then
  say "building backends/cuda"
  "${MVN[@]}" -pl backends/cuda install -DskipTests
fi
# (help:evaluate would do, but prints ANSI escapes with some Maven set-ups; the parent pom's first <version> is ours)
version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)
cuda_jar="backends/cuda/target/hmm4j-backend-cuda-$version.jar"
[ -f "$cuda_jar" ] && [ -d backends/cuda/target/test-classes ] || {
  echo "make-bundle: $cuda_jar or its test classes are missing; build backends/cuda first" >&2; exit 1; }
cp "$cuda_jar" "$STAGE/lib/"
jar --create --file "$STAGE/lib/hmm4j-backend-cuda-$version-tests.jar" -C backends/cuda/target/test-classes .

# 2. Everything the CUDA module needs at test time (runtime, runtime test jar, JCuda, JUnit, AssertJ, jqwik).
say "collecting dependencies"
"${MVN[@]}" -pl backends/cuda dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$STAGE/lib"
"${MVN[@]}" -pl backends/cuda dependency:copy -DoutputDirectory="$STAGE/lib" \
  -Dartifact="io.hmm4j:hmm4j-backend-emulated:$version" \
  || say "WARNING: hmm4j-backend-emulated:$version is not installed (mvn -pl backends/host-emulated install); bundling without it"

# The console launcher is one jar with the whole JUnit platform and Jupiter: use it instead of the pieces.
platform=$(ls "$STAGE"/lib/junit-platform-engine-*.jar | sed 's/.*junit-platform-engine-\(.*\)\.jar/\1/')
"${MVN[@]}" -pl backends/cuda dependency:copy -DoutputDirectory="$STAGE/lib" \
  -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform"
rm -f "$STAGE"/lib/junit-jupiter-*.jar "$STAGE"/lib/junit-platform-*-[0-9]*.jar "$STAGE"/lib/opentest4j-*.jar \
      "$STAGE"/lib/apiguardian-api-*.jar
cp "$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$platform/junit-platform-console-standalone-$platform.jar" \
   "$STAGE/lib/" 2>/dev/null || true
ls "$STAGE"/lib/junit-platform-console-standalone-*.jar >/dev/null

# 3. JMH and the CUDA benchmarks, compiled here so the bundle does not depend on the benchmarks module's build.
jmh=$(sed -n 's:.*<jmh.version>\(.*\)</jmh.version>.*:\1:p' pom.xml | head -1)
for artifact in org.openjdk.jmh:jmh-core:$jmh org.openjdk.jmh:jmh-generator-annprocess:$jmh \
                net.sf.jopt-simple:jopt-simple:5.0.4 org.apache.commons:commons-math3:3.6.1; do
  "${MVN[@]}" -pl backends/cuda dependency:copy -DoutputDirectory="$WORK/jmh" -Dartifact="$artifact"
done
cp "$WORK"/jmh/jmh-core-*.jar "$WORK"/jmh/jopt-simple-*.jar "$WORK"/jmh/commons-math3-*.jar "$STAGE/lib/"
mkdir -p "$WORK/bench-classes"
say "compiling the CUDA benchmarks"
javac --release 25 -proc:full -d "$WORK/bench-classes" -cp "$STAGE/lib/*" \
  -processorpath "$(ls "$WORK"/jmh/*.jar | tr '\n' ':')" \
  $(find benchmarks/src/main/java/io/hmm4j/benchmarks/cuda -name '*.java')
jar --create --file "$STAGE/lib/hmm4j-cuda-benchmarks-$version.jar" -C "$WORK/bench-classes" .

# 4. Slim JCuda's natives: only the driver API binding is used (no NVRTC, no PTX compiler, no runtime API).
slim_jcuda() { # $1: a jar that contains lib/libJ*.so
  local unwanted
  unwanted=$(jar --list --file "$1" | grep -E '^lib/lib(JNvPTXCompiler|JNvrtc|JCudaRuntime|JCublas|JCufft|JCurand|JCusparse|JCusolver)[^/]*\.so$' || true)
  [ -z "$unwanted" ] && return 0
  if command -v zip >/dev/null; then
    # shellcheck disable=SC2086
    zip -q -d "$1" $unwanted
  else
    say "WARNING: zip not found, $1 keeps its unused natives"
  fi
}
for natives in "$STAGE"/lib/jcuda-natives-*.jar; do slim_jcuda "$natives"; done
if [ -f benchmarks/target/benchmarks.jar ]; then
  cp benchmarks/target/benchmarks.jar "$STAGE/bench/"
  slim_jcuda "$STAGE/bench/benchmarks.jar"
else
  say "benchmarks/target/benchmarks.jar not built; ./run.sh bench uses the CUDA benchmarks compiled here"
fi

# 5. The Java runtime.
say "jlink"
jlink --add-modules java.base,jdk.unsupported,java.management,java.logging,jdk.management,jdk.jfr,java.xml,jdk.zipfs \
  --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$STAGE/jdk"

# 6. The run script.
cat > "$STAGE/run.sh" <<'RUN'
#!/usr/bin/env bash
# hmm4j GPU bundle. ./run.sh test [junit console args] | bench [jmh args] | bench-all [jmh args] | info
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
JAVA="$HERE/jdk/bin/java"
JVM=(--enable-native-access=ALL-UNNAMED -Xss2m)
cmd=${1:-help}; shift || true
case "$cmd" in
  test)
    reports=${HMM4J_REPORTS:-$HERE/reports}
    mkdir -p "$reports"
    set +e
    "$JAVA" "${JVM[@]}" -cp "$HERE/lib/*" org.junit.platform.console.ConsoleLauncher execute \
      --disable-banner --details=tree --select-package=io.hmm4j.backend.cuda --reports-dir="$reports" "$@"
    rc=$?
    set -e
    echo "run.sh: JUnit exit code $rc (0: all passed); XML reports in $reports"
    exit $rc
    ;;
  bench)
    # The CUDA benchmarks compiled into lib/ by make-bundle.sh.
    exec "$JAVA" "${JVM[@]}" -cp "$HERE/lib/*" org.openjdk.jmh.Main "$@"
    ;;
  bench-all)
    # Every benchmark of benchmarks/target/benchmarks.jar, when it was built before the bundle.
    [ -f "$HERE/bench/benchmarks.jar" ] || { echo "run.sh: no bench/benchmarks.jar in this bundle" >&2; exit 2; }
    exec "$JAVA" "${JVM[@]}" -jar "$HERE/bench/benchmarks.jar" "$@"
    ;;
  info)
    "$JAVA" -version
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi not found"
    "$JAVA" "${JVM[@]}" -cp "$HERE/lib/*" io.hmm4j.backend.cuda.CudaInfo
    ;;
  *)
    sed -n '2p' "$0"; [ "$cmd" = help ] || exit 2
    ;;
esac
RUN
chmod +x "$STAGE/run.sh"

# 7. Pack and check the size.
archive="$OUT_DIR/$NAME.tar.gz"
tar -C "$WORK" -czf "$archive" "$NAME"
size=$(stat -c %s "$archive")
say "lib/: $(ls "$STAGE/lib" | wc -l) jars, $(du -sh "$STAGE/lib" | cut -f1); jdk/: $(du -sh "$STAGE/jdk" | cut -f1); bench/: $(du -sh "$STAGE/bench" | cut -f1)"
printf 'make-bundle: %s is %d bytes (%.1f MiB, limit 64 MiB)\n' "$archive" "$size" "$(echo "$size / 1048576" | bc -l)"
if [ "$size" -ge "$LIMIT" ]; then
  echo "make-bundle: the bundle is over 64 MiB" >&2
  exit 1
fi
echo "make-bundle: on the GPU host: tar xzf $NAME.tar.gz && $NAME/run.sh test"
