package weir.peers;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.kafka.ConsumerSettings;
import org.apache.pekko.kafka.javadsl.Consumer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Consume-only, the Pekko Connectors Kafka side of weir's {@code benches/kafka_broker.rs}: a
 * {@code plainSource} over all partitions of the topic by manual assignment from offset 0,
 * default consumer settings apart from {@code auto.offset.reset=earliest}, a fresh group per
 * run, counting records until N. One warm-up read, then three timed runs per length.
 *
 * <pre>
 * java -cp ... weir.peers.KafkaConsume BOOTSTRAP bench-in 4 [200000 1000000 5000000]
 * </pre>
 *
 * prints {@code pekko_consume N=... rates=r1,r2,r3 ...} (M records/s) per length.
 */
public final class KafkaConsume {
  private KafkaConsume() {}

  public static void main(String[] args) throws Exception {
    Peer peer = Peer.parse("KafkaConsume", args);
    Peer.runAndExit("pekko-consume", system -> {
      try (Admin admin = peer.admin()) {
        long available = Peer.endOffsets(admin, peer.topic, peer.partitions);
        long warmUp = Peer.warmUpLength(available);
        if (warmUp > 0) {
          read(system, peer, warmUp, "warmup", 0);
        }
        for (long n : peer.lengths) {
          if (n > available) {
            Peer.skip("pekko_consume", n, "topic holds " + available + " records");
            continue;
          }
          List<Peer.Run> runs = Peer.newRuns();
          for (int run = 0; run < Peer.RUNS; run++) {
            runs.add(read(system, peer, n, "consume", run));
          }
          Peer.report("pekko_consume", n, runs);
        }
      }
    });
  }

  /** Reads the first {@code n} records; the time is up to the n-th record's arrival. */
  static Peer.Run read(ActorSystem system, Peer peer, long n, String what, int run) throws Exception {
    ConsumerSettings<byte[], byte[]> settings =
        ConsumerSettings.create(system, new ByteArrayDeserializer(), new ByteArrayDeserializer())
            .withBootstrapServers(peer.bootstrap)
            .withGroupId(Peer.freshGroup(what, n, run))
            .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
            // Only after the timed part: the consumer actor stops at once when the stream is
            // done instead of lingering the default 30 s (stop-timeout) before the next run.
            .withStopTimeout(Duration.ZERO);
    long cpu0 = Peer.cpuNanos();
    long t0 = System.nanoTime();
    Pair<Consumer.Control, CompletionStage<Long>> running =
        Consumer.plainSource(settings, peer.fromStart())
            .take(n)
            // Touch each record as a stream's consumer would.
            .toMat(Sink.fold(0L, (count, record) -> count + (record.value() == null ? 0 : 1)), Keep.both())
            .run(system);
    long count = Peer.await(running.second(), 600);
    long wall = System.nanoTime() - t0;
    long cpu = Peer.cpuNanos() - cpu0;
    Peer.await(running.first().isShutdown(), 60);
    if (count != n) {
      throw new IllegalStateException(what + ": counted " + count + " records of " + n);
    }
    return new Peer.Run(n, wall, cpu);
  }
}
