"""Kafka: the one topic specification (topics.yaml: partitions, configs) and its Strimzi form;
the local broker runs from deploy/dev with the jars pom.xml names."""
