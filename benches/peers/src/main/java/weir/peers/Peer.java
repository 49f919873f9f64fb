package weir.peers;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.kafka.ManualSubscription;
import org.apache.pekko.kafka.Subscriptions;

/**
 * What the peers share: timing and the output; for the Kafka ones also arguments, the
 * assignment and the broker's offsets.
 */
final class Peer {
  static final int RUNS = 3;
  static final long[] DEFAULT_LENGTHS = {200_000, 1_000_000, 5_000_000};

  final String bootstrap;
  final String topic;
  final int partitions;
  final long[] lengths;

  private Peer(String bootstrap, String topic, int partitions, long[] lengths) {
    this.bootstrap = bootstrap;
    this.topic = topic;
    this.partitions = partitions;
    this.lengths = lengths;
  }

  /** {@code BOOTSTRAP TOPIC PARTITIONS [N...]}. */
  static Peer parse(String program, String[] args) {
    if (args.length < 3) {
      System.err.println("usage: " + program + " BOOTSTRAP TOPIC PARTITIONS [N...]");
      System.exit(2);
    }
    long[] lengths = DEFAULT_LENGTHS;
    if (args.length > 3) {
      lengths = new long[args.length - 3];
      for (int i = 3; i < args.length; i++) {
        lengths[i - 3] = Long.parseLong(args[i].replace("_", ""));
      }
    }
    return new Peer(args[0], args[1], Integer.parseInt(args[2]), lengths);
  }

  /**
   * Records of the warm-up read before any timed run, for the JIT: a million (about 2 s), or
   * {@code PEER_WARMUP} records, or all the topic holds if that is less.
   */
  static long warmUpLength(long available) {
    String set = System.getenv("PEER_WARMUP");
    long n = set == null || set.isEmpty() ? 1_000_000 : Long.parseLong(set);
    return Math.min(n, available);
  }

  /** All partitions of the topic, each from offset 0, by manual assignment (no group join). */
  ManualSubscription fromStart() {
    Map<TopicPartition, Long> offsets = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      offsets.put(new TopicPartition(topic, p), 0L);
    }
    return Subscriptions.assignmentWithOffset(offsets);
  }

  /** A group no run has used, so nothing committed before can move the start. */
  static String freshGroup(String what, long n, int run) {
    return "peer-" + what + "-" + n + "-" + run + "-" + UUID.randomUUID();
  }

  Admin admin() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    return Admin.create(p);
  }

  /** The sum of the end offsets of {@code topic}'s partitions; 0 when there is no such topic. */
  static long endOffsets(Admin admin, String topic, int partitions) throws Exception {
    if (!admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(topic)) {
      return 0;
    }
    Map<TopicPartition, OffsetSpec> query = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      query.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    long sum = 0;
    for (ListOffsetsResult.ListOffsetsResultInfo info :
        admin.listOffsets(query).all().get(30, TimeUnit.SECONDS).values()) {
      sum += info.offset();
    }
    return sum;
  }

  /** The sum of the offsets {@code group} committed. */
  static long committed(Admin admin, String group) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> offsets =
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
    long sum = 0;
    for (OffsetAndMetadata o : offsets.values()) {
      if (o != null) {
        sum += o.offset();
      }
    }
    return sum;
  }

  static void createTopic(Admin admin, String topic, int partitions) throws Exception {
    try {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
  }

  /** A peer's body, run on its actor system. */
  interface Body {
    void run(ActorSystem system) throws Exception;
  }

  /**
   * Runs {@code body} on a fresh actor system, terminates the system and exits: with status 1
   * when the body threw, so that scripts/bench-peers fails with it.
   */
  static void runAndExit(String systemName, Body body) throws Exception {
    ActorSystem system = ActorSystem.create(systemName);
    int status = 0;
    try {
      body.run(system);
    } catch (Exception e) {
      e.printStackTrace();
      status = 1;
    } finally {
      system.terminate();
      await(system.getWhenTerminated(), 60);
    }
    System.exit(status);
  }

  static <T> T await(CompletionStage<T> stage, long seconds) throws Exception {
    return stage.toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }

  /** The CPU time of this whole process (every thread: stream, consumer, producer, GC), in ns. */
  static long cpuNanos() {
    java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean) {
      return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
    }
    return -1;
  }

  /** One timed run: its wall and CPU time. */
  record Run(long n, long wallNanos, long cpuNanos) {
    double rate() {
      return n / (wallNanos / 1e9) / 1e6;
    }
  }

  /**
   * One line per length, e.g. {@code pekko_consume N=1000000 rates=0.61,0.63,0.65
   * wall_s=... cpu_s=...}: rates in M records/s, in run order; the process's CPU seconds next
   * to the wall seconds of each run (a peer that spins looks fast on wall time alone).
   */
  static void report(String name, long n, List<Run> runs) {
    System.out.println(name + " N=" + n
        + " rates=" + join(runs, r -> r.rate(), "%.3f")
        + " wall_s=" + join(runs, r -> r.wallNanos() / 1e9, "%.3f")
        + " cpu_s=" + join(runs, r -> r.cpuNanos() / 1e9, "%.3f"));
    System.out.flush();
  }

  static void skip(String name, long n, String why) {
    System.out.println(name + " N=" + n + " skipped=" + why.replace(' ', '_'));
    System.out.flush();
  }

  static String join(List<Run> runs, java.util.function.ToDoubleFunction<Run> f, String format) {
    return runs.stream()
        .map(r -> String.format(Locale.ROOT, format, f.applyAsDouble(r)))
        .collect(Collectors.joining(","));
  }

  static List<Run> newRuns() {
    return new ArrayList<>(RUNS);
  }
}
