// Every alert group, in the order of the rules file.
(import 'queue.libsonnet')
+ (import 'workers.libsonnet')
+ (import 'leases.libsonnet')
+ (import 'exporter.libsonnet')
+ (import 'slo.libsonnet')
