/** What other tools (the chaos run) use of the distributed mode: its instances and their supervisor. */
export { Cluster, ClusterOptions, Instance } from './cluster';
export { InstanceCounts, MAX_INSTANCES, SERVICES, parseInstances } from './instances';
