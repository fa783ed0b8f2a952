// Prints, for each key on standard input, the partition the Java Kafka
// client's default partitioner picks for it among N partitions:
//   java -cp 'kafka-jars/*' PartitionOf.java N < keys
// (BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % N.)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

public class PartitionOf {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String key;
        while ((key = in.readLine()) != null) {
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            System.out.println(key + "\t" + Utils.toPositive(Utils.murmur2(bytes)) % partitions);
        }
    }
}
