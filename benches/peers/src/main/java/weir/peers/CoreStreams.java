package weir.peers;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.LongFunction;
import java.util.function.LongUnaryOperator;
import java.util.stream.LongStream;

import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.ClosedShape;
import org.apache.pekko.stream.FanInShape2;
import org.apache.pekko.stream.UniformFanInShape;
import org.apache.pekko.stream.UniformFanOutShape;
import org.apache.pekko.stream.javadsl.Balance;
import org.apache.pekko.stream.javadsl.Broadcast;
import org.apache.pekko.stream.javadsl.GraphDSL;
import org.apache.pekko.stream.javadsl.Merge;
import org.apache.pekko.stream.javadsl.RunnableGraph;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.Zip;

/**
 * The Pekko Streams side of weir's {@code benches/peers_core.rs}: the same workloads over
 * the same longs, with the same element counts, 5 warm-up iterations and then 5 measured ones,
 * each result checked.
 *
 * <pre>
 * java -cp ... weir.peers.CoreStreams [--smoke]
 * </pre>
 *
 * prints {@code pekko_stream workload=NAME n=N rates=r1,...,r5 median=R wall_s=... cpu_s=...}
 * (M elements/s of the source; the JVM's CPU seconds beside each run's wall seconds). {@code
 * --smoke} runs every workload on 10 000 elements.
 */
public final class CoreStreams {
  private CoreStreams() {}

  static final int WARMUP = 5;
  static final int MEASURED = 5;
  static final long SMOKE_N = 10_000;

  /** One workload: a fresh run of it over n longs, and the result it must give. */
  record Workload(String name, long n, LongFunction<CompletionStage<Long>> run, LongUnaryOperator expected) {}

  public static void main(String[] args) throws Exception {
    boolean smoke = List.of(args).contains("--smoke");
    Peer.runAndExit("pekko-core", system -> {
      List<Workload> workloads = List.of(
          new Workload("fused_chain", 10_000_000, n -> fusedChain(n, system), CoreStreams::plainLoop),
          new Workload("map_async", 1_000_000, n -> mapAsync(n, system), n -> n * (n + 1) / 2),
          new Workload("async_boundary", 10_000_000, n -> asyncBoundary(n, system), n -> 3 * (n * (n - 1) / 2)),
          new Workload("broadcast_zip", 10_000_000, n -> broadcastZip(n).run(system), n -> n * (n - 1)),
          new Workload("balance_merge", 10_000_000, n -> balanceMerge(n).run(system), n -> n * (n - 1) / 2),
          new Workload("group_by", 1_000_000, n -> groupBy(n, system), n -> n * (n - 1)));
      for (Workload w : workloads) {
        measure(w, smoke ? SMOKE_N : w.n());
      }
    });
  }

  /** The longs 0 until n, boxed one by one as any Java stream of them is. */
  static Source<Long, NotUsed> longs(long n) {
    return Source.fromIterator(() -> LongStream.range(0, n).iterator());
  }

  /** What the fused chain must give: its closures in a loop. */
  static long plainLoop(long n) {
    long acc = 0;
    long res = 0;
    for (long x = 0; x < n; x++) {
      long y = x * 3;
      if (y % 2 == 0) {
        acc += y;
        res ^= acc;
      }
    }
    return res;
  }

  /** weir's {@code fused_chain} in benches/fused.rs: map → filter → scan → fold. */
  static CompletionStage<Long> fusedChain(long n, ActorSystem system) {
    return longs(n)
        .map(x -> x * 3)
        .filter(x -> x % 2 == 0)
        .scan(0L, (acc, x) -> acc + x)
        .runWith(Sink.fold(0L, (a, x) -> a ^ x), system);
  }

  /** {@code mapAsync(4)} on futures completed already. */
  static CompletionStage<Long> mapAsync(long n, ActorSystem system) {
    return longs(n)
        .mapAsync(4, x -> CompletableFuture.completedFuture(x + 1))
        .runWith(Sink.fold(0L, (a, x) -> a + x), system);
  }

  /** A map, one async boundary with the default buffers, a fold. */
  static CompletionStage<Long> asyncBoundary(long n, ActorSystem system) {
    return longs(n)
        .map(x -> x * 3)
        .async()
        .runWith(Sink.fold(0L, (a, x) -> a + x), system);
  }

  /** source → Broadcast(2) → Zip → fold of both halves of each pair. */
  static RunnableGraph<CompletionStage<Long>> broadcastZip(long n) {
    Sink<Pair<Long, Long>, CompletionStage<Long>> sum =
        Sink.fold(0L, (a, p) -> a + p.first() + p.second());
    return RunnableGraph.fromGraph(GraphDSL.create(sum, (b, sink) -> {
      UniformFanOutShape<Long, Long> bcast = b.add(Broadcast.create(2));
      FanInShape2<Long, Long, Pair<Long, Long>> zip = b.add(Zip.create());
      b.from(b.add(longs(n))).toInlet(bcast.in());
      b.from(bcast.out(0)).toInlet(zip.in0());
      b.from(bcast.out(1)).toInlet(zip.in1());
      b.from(zip.out()).to(sink);
      return ClosedShape.getInstance();
    }));
  }

  /** source → Balance(2) → Merge(2) → fold. */
  static RunnableGraph<CompletionStage<Long>> balanceMerge(long n) {
    Sink<Long, CompletionStage<Long>> sum = Sink.fold(0L, (a, x) -> a + x);
    return RunnableGraph.fromGraph(GraphDSL.create(sum, (b, sink) -> {
      UniformFanOutShape<Long, Long> balance = b.add(Balance.create(2));
      UniformFanInShape<Long, Long> merge = b.add(Merge.create(2));
      b.from(b.add(longs(n))).toInlet(balance.in());
      b.from(balance.out(0)).toInlet(merge.in(0));
      b.from(balance.out(1)).toInlet(merge.in(1));
      b.from(merge.out()).to(sink);
      return ClosedShape.getInstance();
    }));
  }

  /** groupBy(64) → map → mergeSubstreams → fold (weir's group_by → merge_substreams). */
  static CompletionStage<Long> groupBy(long n, ActorSystem system) {
    return longs(n)
        .groupBy(64, x -> x % 64)
        .map(x -> x * 2)
        .mergeSubstreams()
        .runWith(Sink.fold(0L, (a, x) -> a + x), system);
  }

  static void measure(Workload w, long n) throws Exception {
    long expected = w.expected().applyAsLong(n);
    for (int i = 0; i < WARMUP; i++) {
      check(w, Peer.await(w.run().apply(n), 600), expected);
    }
    List<Peer.Run> runs = new ArrayList<>(MEASURED);
    for (int i = 0; i < MEASURED; i++) {
      long cpu0 = Peer.cpuNanos();
      long t0 = System.nanoTime();
      long got = Peer.await(w.run().apply(n), 600);
      long wall = System.nanoTime() - t0;
      runs.add(new Peer.Run(n, wall, Peer.cpuNanos() - cpu0));
      check(w, got, expected);
    }
    double[] rates = runs.stream().mapToDouble(Peer.Run::rate).sorted().toArray();
    System.out.println("pekko_stream workload=" + w.name() + " n=" + n
        + " rates=" + Peer.join(runs, Peer.Run::rate, "%.3f")
        + String.format(Locale.ROOT, " median=%.3f", rates[rates.length / 2])
        + " wall_s=" + Peer.join(runs, r -> r.wallNanos() / 1e9, "%.6f")
        + " cpu_s=" + Peer.join(runs, r -> r.cpuNanos() / 1e9, "%.3f"));
    System.out.flush();
  }

  static void check(Workload w, long got, long expected) {
    if (got != expected) {
      throw new IllegalStateException(w.name() + ": got " + got + ", expected " + expected);
    }
  }
}
