import { defineConfig } from "vitest/config";

// Three suites. unit and sim are CPU-bound and run files in parallel; docker drives one real
// Docker engine and the host's iptables, so its files run one at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 60_000,
          pool: "forks",
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "sim",
          include: ["test/sim/**/*.test.ts"],
          testTimeout: 300_000,
          pool: "forks",
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "docker",
          include: ["test/docker/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          pool: "forks",
          fileParallelism: false,
        },
      },
    ],
  },
});
