package dev.weir.oracle;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.common.serialization.LongSerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.SessionWindowedKStream;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Runs windowed aggregations through Kafka Streams (a TopologyTestDriver per case) and prints
 * what they emit, for tests/window_oracle.rs.
 *
 * <p>Reads cases from stdin, each a header, records and {@code end}:
 * <pre>
 * case KIND P1 P2 GRACE MODE AGG   KIND: tumbling SIZE 0 | hopping SIZE ADVANCE | session GAP 0
 *                                  | sliding DIFFERENCE 0; MODE: updates | final | flush; AGG:
 *                                  count | sum (reduce(Long::sum))
 * r KEY VALUE TIMESTAMP
 * end
 * </pre>
 * and prints per case the outputs, {@code o KEY START END VALUE} ({@code VALUE} is {@code null}
 * for a tombstone), then {@code done}. Record caching is off, so every update is forwarded;
 * {@code final} suppresses until the window closes; {@code flush} is {@code final} followed by
 * one record far in the future on a key of its own, whose outputs are not printed, closing every
 * window still open.
 */
public final class Oracle {
    private static final String FLUSH_KEY = "~flush";

    private Oracle() {}

    /** A state directory of this run's own, so that concurrent runs do not share stores. */
    private static String stateDir;

    public static void main(final String[] args) throws IOException {
        final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("weir-oracle");
        dir.toFile().deleteOnExit();
        stateDir = dir.toString();
        final BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final PrintWriter out = new PrintWriter(
            new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8)));
        String[] header = null;
        List<long[]> times = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        String line;
        while ((line = in.readLine()) != null) {
            final String[] f = line.trim().split(" ");
            switch (f[0]) {
                case "case":
                    header = f;
                    times = new ArrayList<>();
                    keys = new ArrayList<>();
                    break;
                case "r":
                    keys.add(f[1]);
                    times.add(new long[] {Long.parseLong(f[2]), Long.parseLong(f[3])});
                    break;
                case "end":
                    run(header, keys, times, out);
                    out.println("done");
                    out.flush();
                    break;
                default:
                    break;
            }
        }
        out.flush();
    }

    private static void run(final String[] h, final List<String> keys, final List<long[]> records,
                            final PrintWriter out) {
        final String kind = h[1];
        final long p1 = Long.parseLong(h[2]);
        final long p2 = Long.parseLong(h[3]);
        final Duration grace = Duration.ofMillis(Long.parseLong(h[4]));
        final String mode = h[5];
        final boolean sum = h[6].equals("sum");

        final StreamsBuilder builder = new StreamsBuilder();
        final KGroupedStream<String, Long> grouped =
            builder.stream("in", Consumed.with(Serdes.String(), Serdes.Long())).groupByKey();
        KTable<Windowed<String>, Long> table;
        if (kind.equals("session")) {
            final SessionWindowedKStream<String, Long> s =
                grouped.windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(p1), grace));
            final Materialized<String, Long, SessionStore<Bytes, byte[]>> m =
                Materialized.<String, Long, SessionStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                    .withCachingDisabled();
            table = sum ? s.reduce(Long::sum, m) : s.count(m);
        } else {
            final TimeWindowedKStream<String, Long> w;
            switch (kind) {
                case "tumbling":
                    w = grouped.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(p1), grace));
                    break;
                case "hopping":
                    w = grouped.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(p1), grace)
                        .advanceBy(Duration.ofMillis(p2)));
                    break;
                case "sliding":
                    w = grouped.windowedBy(
                        SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(p1), grace));
                    break;
                default:
                    throw new IllegalArgumentException("unknown window kind " + kind);
            }
            final Materialized<String, Long, WindowStore<Bytes, byte[]>> m =
                Materialized.<String, Long, WindowStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                    .withCachingDisabled();
            table = sum ? w.reduce(Long::sum, m) : w.count(m);
        }
        if (!mode.equals("updates")) {
            table = table.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
        }
        final List<String> emitted = new ArrayList<>();
        table.toStream().foreach((k, v) -> {
            if (!k.key().equals(FLUSH_KEY)) {
                emitted.add("o " + k.key() + " " + k.window().start() + " " + k.window().end() + " " + v);
            }
        });

        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "weir-oracle");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.LongSerde.class);
        try (TopologyTestDriver driver = new TopologyTestDriver(builder.build(), props)) {
            final TestInputTopic<String, Long> input =
                driver.createInputTopic("in", new StringSerializer(), new LongSerializer());
            for (int i = 0; i < records.size(); i++) {
                input.pipeInput(keys.get(i), records.get(i)[0], records.get(i)[1]);
            }
            if (mode.equals("flush")) {
                input.pipeInput(FLUSH_KEY, 0L, Long.MAX_VALUE / 4);
            }
        }
        emitted.forEach(out::println);
    }
}
