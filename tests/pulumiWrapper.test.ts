import * as assert from "node:assert/strict";
import * as path from "node:path";
import { plan, UsageError } from "../cli/pulumi";

const LOCAL_STATE = `file://${path.resolve(__dirname, "..", ".pulumi-state")}`;

describe("npm run up / preview (pinned Pulumi CLI wrapper)", () => {
  it("defaults to the local file backend and creates the stack on first use", () => {
    assert.deepEqual(plan(["up", "dev", "--yes"], {}), {
      env: { PULUMI_BACKEND_URL: LOCAL_STATE },
      commands: [
        ["stack", "select", "dev", "--create"],
        ["up", "--stack", "dev", "--yes"],
      ],
    });
  });

  it("leaves an explicitly chosen backend alone", () => {
    const invocation = plan(["preview", "prod", "--diff"], { PULUMI_BACKEND_URL: "azblob://state" });
    assert.deepEqual(invocation.env, {});
    assert.deepEqual(invocation.commands.at(-1), ["preview", "--stack", "prod", "--diff"]);
  });

  it("does not create stacks for refresh and destroy", () => {
    assert.deepEqual(plan(["destroy", "dev"], {}).commands, [["destroy", "--stack", "dev"]]);
  });

  it("passes other commands through untouched", () => {
    assert.deepEqual(plan(["stack", "output", "--stack", "dev", "--json"], {}).commands, [
      ["stack", "output", "--stack", "dev", "--json"],
    ]);
  });

  it("explains a missing stack name", () => {
    assert.throws(() => plan(["up"], {}), UsageError);
    assert.throws(() => plan(["up", "--yes"], {}), /npm run up -- dev/);
    assert.throws(() => plan([], {}), /name a pulumi command/);
  });
});
