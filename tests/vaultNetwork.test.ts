import * as assert from "node:assert/strict";
import { ConfigError, parseStackConfig } from "../program/config";
import { policies } from "../policy/policies";
import { policyPackConfig } from "../policy/write-config";
import { SMARTSPACE, SUBSCRIPTION_ID } from "./support/azureMocks";
import { baseConfig } from "./support/fixtures";
import { resourcesFromRun, runPolicies } from "./support/policyHarness";
import { runProgram, toRawConfig } from "./support/program";

const VAULT = "azure-native:keyvault:Vault";
const RG = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-network`;
const SUBNET = `${RG}/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-endpoints`;
const DNS_ZONE = `${RG}/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net`;
const WORKSPACE = `${RG}/providers/Microsoft.OperationalInsights/workspaces/log-security`;

function problems(keyVault: Record<string, unknown>): string[] {
  try {
    parseStackConfig(toRawConfig(baseConfig({ keyVault })), "dev");
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return [...error.problems];
  }
}

describe("Key Vault network rules and audit logs", () => {
  it("are optional, and a vault without them declares exactly the inputs it did before", async () => {
    const run = await runProgram(baseConfig());
    const properties = run.one(VAULT, "credentials-vault").inputs.properties as Record<string, unknown>;
    assert.equal(properties.networkAcls, undefined);
    assert.equal(run.byType("azure-native:network:PrivateEndpoint").length, 0);
    assert.equal(run.byType("azure-native:monitor:DiagnosticSetting").length, 0);
  });

  it("deny public access except the listed ranges, add a private endpoint with DNS, and send audit logs", async () => {
    const run = await runProgram(
      baseConfig({
        keyVault: {
          resourceGroupName: "rg-smartspace-prod",
          network: {
            allowedIpRanges: ["203.0.113.0/24", "198.51.100.7"],
            privateEndpoint: { subnetId: SUBNET, privateDnsZoneId: DNS_ZONE },
          },
          auditLogWorkspaceId: WORKSPACE,
        },
      }),
    );
    const vault = run.one(VAULT, "credentials-vault");
    const properties = vault.inputs.properties as Record<string, unknown>;
    assert.deepEqual(properties.networkAcls, {
      defaultAction: "Deny",
      bypass: "AzureServices",
      ipRules: [{ value: "203.0.113.0/24" }, { value: "198.51.100.7" }],
      virtualNetworkRules: [],
    });
    const endpoint = run.one("azure-native:network:PrivateEndpoint", "credentials-private-endpoint");
    assert.equal((endpoint.inputs.subnet as Record<string, unknown>).id, SUBNET);
    const [connection] = endpoint.inputs.privateLinkServiceConnections as Record<string, unknown>[];
    assert.deepEqual(connection.groupIds, ["vault"]);
    assert.equal(
      connection.privateLinkServiceId,
      run.outputs.keyVaultId,
      "the endpoint connects to this vault",
    );
    const dns = run.one("azure-native:network:PrivateDnsZoneGroup", "credentials-private-dns");
    assert.deepEqual(dns.inputs.privateDnsZoneConfigs, [{ name: "vaultcore", privateDnsZoneId: DNS_ZONE }]);
    assert.equal(
      dns.inputs.privateEndpointName,
      "credentials-private-endpoint-pe",
      "the name Azure gave the endpoint",
    );
    const audit = run.one("azure-native:monitor:DiagnosticSetting", "credentials-audit-logs");
    assert.equal(audit.inputs.resourceUri, run.outputs.keyVaultId);
    assert.equal(audit.inputs.workspaceId, WORKSPACE);
    assert.deepEqual(audit.inputs.logs, [{ categoryGroup: "audit", enabled: true }]);

    // The policy pack allows these types, and a stack that requires network rules is satisfied.
    const config = policyPackConfig({
      stack: "prod",
      settings: { production: false, limits: { requireNetworkRules: true } },
      facts: { integrations: [] },
      smartspaceServicePrincipalObjectId: SMARTSPACE.objectId,
    });
    const violations = await runPolicies(policies, resourcesFromRun(run), config);
    assert.deepEqual(violations, []);
  });

  it("refuse settings that would lock everyone out, malformed IDs, and changes to a vault the stack does not own", () => {
    assert.deepEqual(problems({ resourceGroupName: "rg", network: {} }), [
      "smartspace-integration:keyVault.network.allowedIpRanges is required: list at least one IP range or set privateEndpoint: with neither, nothing (not even the deployment) could reach the vault",
    ]);
    const bad = problems({
      resourceGroupName: "rg",
      network: { allowedIpRanges: ["10.0.0.0/33", "2001:db8::/32"], privateEndpoint: { subnetId: "snet" } },
      auditLogWorkspaceId: "log-security",
    });
    assert.equal(bad.length, 4, bad.join("\n"));
    assert.match(bad[0], /allowedIpRanges\[0\] "10\.0\.0\.0\/33": use an IPv4 address or CIDR range/);
    assert.match(bad[2], /privateEndpoint\.subnetId "snet": use a subnet resource ID/);
    assert.match(bad[3], /auditLogWorkspaceId "log-security": use a Log Analytics workspace resource ID/);
    const id = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-shared`;
    const [owned] = problems({ id, auditLogWorkspaceId: WORKSPACE });
    assert.match(
      owned,
      /^smartspace-integration:keyVault\.auditLogWorkspaceId ".*: only applies when creating a vault/,
    );
  });
});
