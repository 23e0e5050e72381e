import * as assert from "node:assert/strict";
import { ConfigError, parseStackConfig } from "../program/config";
import { baseConfig, WORKSPACE_A } from "./support/fixtures";
import { runProgram, StackConfigValues, toRawConfig } from "./support/program";

const GUID = "11111111-2222-4333-8444-555555555555";

function problems(values: StackConfigValues): string[] {
  try {
    parseStackConfig(toRawConfig(values), "dev");
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail("expected the configuration to be rejected");
}

function withIntegrations(...integrations: unknown[]): StackConfigValues {
  return baseConfig({ integrations });
}

describe("configuration", () => {
  it("accepts a complete configuration and applies documented defaults", () => {
    const config = parseStackConfig(
      toRawConfig(baseConfig({ integrations: [{ name: "crm-sync", workspaces: [WORKSPACE_A] }] })),
      "prod",
    );
    assert.equal(config.smartspace.roleName, "Integrations");
    assert.deepEqual(config.integrations[0], {
      name: "crm-sync",
      displayName: "smartspace-crm-sync-prod",
      owners: [],
      workspaces: [WORKSPACE_A],
      credential: { type: "secret", rotationDays: 90, rotationDaysKey: "rotationDays", readers: [] },
    });
  });

  it("validates deployerObjectId as an object ID", () => {
    assert.deepEqual(problems(baseConfig({ deployerObjectId: "deploy-sp" })), [
      'smartspace-integration:deployerObjectId "deploy-sp": use a GUID such as 00000000-0000-0000-0000-000000000000',
    ]);
  });

  it("validates allowOtherDeployers as a boolean, off by default", () => {
    assert.equal(parseStackConfig(toRawConfig(baseConfig()), "dev").allowOtherDeployers, false);
    assert.deepEqual(problems(baseConfig({ allowOtherDeployers: "yes" })), [
      'smartspace-integration:allowOtherDeployers "yes": use true or false',
    ]);
  });

  it("leaves the providers' namespaces to the providers", () => {
    const config = parseStackConfig(
      toRawConfig({
        ...baseConfig(),
        "azure-native:location": "australiaeast",
        "azuread:tenantId": GUID,
        "pulumi:tags": JSON.stringify({ team: "platform" }),
      }),
      "dev",
    );
    assert.equal(config.integrations.length, 1);
  });

  it("refuses keys in a namespace nothing reads, suggesting the one meant, and never shows their values", () => {
    const found = problems({
      ...baseConfig(),
      "smartspace-integraton:deployerObjectId": GUID,
      "azure:clientSecret": "hunter2-not-to-be-shown",
      "contoso:team": "platform",
    });
    assert.deepEqual(found, [
      'smartspace-integraton:deployerObjectId: unknown namespace "smartspace-integraton", which nothing reads; did you mean smartspace-integration:deployerObjectId?',
      'azure:clientSecret: unknown namespace "azure", which nothing reads; did you mean azure-native:clientSecret?',
      'contoso:team: unknown namespace "contoso", which nothing reads; expected smartspace-integration: or a provider\'s namespace (azure-native, azuread, random)',
    ]);
  });

  describe("placeholders", () => {
    it("refuses every <...> placeholder, in any namespace, saying what to fill in and where to find it", () => {
      const found = problems({
        smartspace: { appClientId: "<Smartspace app client ID>", chatApiUrl: "<Smartspace Chat API URL>" },
        keyVault: { resourceGroupName: "<existing resource group>" },
        integrations: [{ name: "crm-sync", secretReaders: ["<consumer's managed identity object ID>"] }],
        "azure-native:location": "<Azure region>",
      });
      assert.deepEqual(found, [
        `smartspace-integration:smartspace.appClientId "<Smartspace app client ID>": placeholder; fill in the Smartspace app's client ID (Smartspace admin portal > Admin API documentation > CLI Setup)`,
        `smartspace-integration:smartspace.chatApiUrl "<Smartspace Chat API URL>": placeholder; fill in the Smartspace Chat API URL (admin portal), or remove it`,
        `smartspace-integration:keyVault.resourceGroupName "<existing resource group>": placeholder; fill in an existing resource group for the vault (az group list -o table)`,
        `smartspace-integration:integrations[0].secretReaders[0] "<consumer's managed identity object ID>": placeholder; fill in a managed identity's object ID (az functionapp identity show -g <group> -n <app>), or remove it`,
        `azure-native:location "<Azure region>": placeholder; fill in an Azure region (az account list-locations -o table), or remove it`,
      ]);
    });

    it("reports a placeholder once, not also as a malformed or duplicate value, and lists it before other problems", () => {
      const found = problems(
        withIntegrations({ name: "Bad Name", workspaces: ["<workspace ID>", "<workspace ID>"] }),
      );
      assert.deepEqual(
        found.map((problem) => problem.split(":").slice(0, 2).join(":")),
        [
          'smartspace-integration:integrations[0].workspaces[0] "<workspace ID>"',
          'smartspace-integration:integrations[0].workspaces[1] "<workspace ID>"',
          'smartspace-integration:integrations[0].name "Bad Name"',
        ],
      );
    });

    it("accepts ordinary GUIDs and strings that merely contain angle brackets", () => {
      const config = parseStackConfig(
        toRawConfig(
          baseConfig({
            integrations: [{ name: "crm-sync", displayName: "CRM <-> Smartspace", owners: [GUID] }],
          }),
        ),
        "dev",
      );
      assert.equal(config.integrations[0].displayName, "CRM <-> Smartspace");
    });

    it("stops the program before it declares anything or looks anything up", async () => {
      await assert.rejects(
        runProgram(baseConfig({ smartspace: { appClientId: "<Smartspace app client ID>" } })),
        (error: Error & { registeredResources: unknown[]; invokes: unknown[] }) => {
          assert.equal(error.name, "ConfigError");
          assert.match(
            error.message,
            /smartspace\.appClientId "<Smartspace app client ID>": placeholder; fill in/,
          );
          assert.deepEqual(error.registeredResources, []);
          assert.deepEqual(error.invokes, []);
          return true;
        },
      );
    });
  });

  it("names key, value and expected form for a bad integration name", () => {
    assert.deepEqual(problems(withIntegrations({ name: "crm-sync" }, { name: "CRM Sync" })), [
      'smartspace-integration:integrations[1].name "CRM Sync": use 3-40 lowercase letters, digits or hyphens',
    ]);
  });

  it("rejects setting both appClientId and appDisplayName", () => {
    const found = problems(baseConfig({ smartspace: { appClientId: GUID, appDisplayName: "Smartspace" } }));
    assert.deepEqual(found, [
      'smartspace-integration:smartspace.appDisplayName "Smartspace": set either appClientId or appDisplayName, not both (prefer appClientId: display names are not unique)',
    ]);
  });

  it("rejects setting neither appClientId nor appDisplayName", () => {
    const [problem] = problems(baseConfig({ smartspace: { roleName: "Integrations" } }));
    assert.match(
      problem,
      /^smartspace-integration:smartspace\.appClientId is required: set appClientId .*or appDisplayName/,
    );
  });

  it("rejects duplicate integration names", () => {
    assert.deepEqual(problems(withIntegrations({ name: "crm-sync" }, { name: "crm-sync" })), [
      'smartspace-integration:integrations[1].name "crm-sync": duplicate integration name; each name must be unique in the list',
    ]);
  });

  it("rejects non-GUID IDs wherever an ID is expected", () => {
    const found = problems(
      baseConfig({
        smartspace: { appClientId: "smartspace-app", adminApiUrl: "https://admin.example.com" },
        integrations: [
          {
            name: "crm-sync",
            owners: ["alice@contoso.com"],
            workspaces: ["ws-1"],
            secretReaders: ["func-app"],
          },
        ],
      }),
    );
    assert.deepEqual(found, [
      'smartspace-integration:smartspace.appClientId "smartspace-app": use a GUID such as 00000000-0000-0000-0000-000000000000',
      'smartspace-integration:integrations[0].owners[0] "alice@contoso.com": use a GUID such as 00000000-0000-0000-0000-000000000000',
      'smartspace-integration:integrations[0].workspaces[0] "ws-1": use a GUID such as 00000000-0000-0000-0000-000000000000',
      'smartspace-integration:integrations[0].secretReaders[0] "func-app": use a GUID such as 00000000-0000-0000-0000-000000000000',
    ]);
  });

  it("rejects non-https URLs, the local emulators' included (tokens never travel in the clear)", () => {
    const found = problems(
      baseConfig({
        smartspace: { appClientId: GUID, adminApiUrl: "http://127.0.0.1:8787", chatApiUrl: "chat" },
      }),
    );
    assert.deepEqual(found, [
      'smartspace-integration:smartspace.adminApiUrl "http://127.0.0.1:8787": use an absolute https:// URL without credentials, query or fragment',
      'smartspace-integration:smartspace.chatApiUrl "chat": use an absolute https:// URL without credentials, query or fragment',
    ]);
  });

  it("rejects URLs with a query or fragment, which the admin API client would refuse later", () => {
    const [problem] = problems(
      baseConfig({
        smartspace: { appClientId: GUID, adminApiUrl: "https://admin.example.com/api?tenant=x" },
      }),
    );
    assert.match(
      problem,
      /^smartspace-integration:smartspace\.adminApiUrl "https:\/\/admin\.example\.com\/api\?tenant=x": use an absolute https:\/\/ URL without credentials, query or fragment/,
    );
  });

  it("rejects an empty integration list", () => {
    assert.deepEqual(problems(baseConfig({ integrations: [] })), [
      "smartspace-integration:integrations []: declare at least one integration, such as [{ name: crm-sync }]",
    ]);
  });

  it("rejects a missing integration list", () => {
    const values = baseConfig();
    delete values.integrations;
    assert.deepEqual(problems(values), [
      "smartspace-integration:integrations is required: use a list of integrations, each with at least a name",
    ]);
  });

  it("rejects unknown keys at every level, so a typo never falls back to a default", () => {
    const values = baseConfig({
      smartspace: { appClientId: GUID, rolename: "Automation" },
      integrations: [{ name: "crm-sync", rotationdays: 30 }],
      integration: [{ name: "other" }],
    });
    assert.deepEqual(problems(values).sort(), [
      'smartspace-integration:integration [{"name":"other"}]: unknown key; expected one of smartspace-integration:smartspace, smartspace-integration:integrations, smartspace-integration:keyVault, smartspace-integration:deployerObjectId, smartspace-integration:allowOtherDeployers, smartspace-integration:alerts',
      "smartspace-integration:integrations[0].rotationdays 30: unknown key; expected one of name, displayName, owners, workspaces, credential, rotationDays, secretReaders",
      'smartspace-integration:smartspace.rolename "Automation": unknown key; expected one of appClientId, appDisplayName, roleName, adminApiUrl, chatApiUrl, adminApiScope',
    ]);
  });

  it("reports every problem at once, one line each", () => {
    const found = problems(
      baseConfig({
        smartspace: { appClientId: GUID, chatApiUrl: "http://x" },
        integrations: [{ name: "A" }, { name: "ok-name", rotationDays: 3 }],
      }),
    );
    assert.equal(found.length, 3);
  });

  describe("credentials keys", () => {
    it("requires keyVault with either resourceGroupName or id", () => {
      const values = baseConfig();
      delete values.keyVault;
      assert.deepEqual(problems(values), [
        "smartspace-integration:keyVault is required: use an object with either id (an existing vault) or resourceGroupName (create a vault)",
      ]);
      assert.deepEqual(problems(baseConfig({ keyVault: { location: "westeurope" } })), [
        "smartspace-integration:keyVault.resourceGroupName is required: set resourceGroupName (an existing resource group to create the vault in), or id (an existing vault)",
      ]);
    });

    it("rejects creation settings combined with an existing vault id", () => {
      const id = `/subscriptions/${GUID}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-shared`;
      assert.deepEqual(problems(baseConfig({ keyVault: { id, resourceGroupName: "rg" } })), [
        'smartspace-integration:keyVault.resourceGroupName "rg": only applies when creating a vault; remove it, or remove id to create a vault instead',
      ]);
    });

    it("validates vault name, id, location and resource group against Azure's rules", () => {
      const found = problems(
        baseConfig({ keyVault: { resourceGroupName: "rg.", name: "1-vault--x", location: "West Europe" } }),
      );
      assert.deepEqual(found, [
        `smartspace-integration:keyVault.resourceGroupName "rg.": use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'`,
        `smartspace-integration:keyVault.name "1-vault--x": use 3-24 letters, digits or hyphens, starting with a letter, ending with a letter or digit, no '--'`,
        'smartspace-integration:keyVault.location "West Europe": use an Azure region name such as australiaeast',
      ]);
      const [idProblem] = problems(baseConfig({ keyVault: { id: "kv-shared" } }));
      assert.match(
        idProblem,
        /^smartspace-integration:keyVault\.id "kv-shared": use a Key Vault resource ID/,
      );
    });

    it("bounds rotationDays to 7..180 whole days", () => {
      for (const bad of [6, 181, 30.5, "90"]) {
        assert.deepEqual(problems(withIntegrations({ name: "crm-sync", rotationDays: bad })), [
          `smartspace-integration:integrations[0].rotationDays ${JSON.stringify(bad)}: use a whole number of days from 7 to 180`,
        ]);
      }
    });

    it("rejects duplicate secret readers", () => {
      assert.deepEqual(
        problems(withIntegrations({ name: "crm-sync", secretReaders: [GUID, GUID.toUpperCase()] })),
        [
          `smartspace-integration:integrations[0].secretReaders[1] "${GUID.toUpperCase()}": duplicate secret reader object IDs in the list`,
        ],
      );
    });
  });

  describe("credential keys", () => {
    const P = "smartspace-integration:integrations[0]";
    const github = (ref: Record<string, unknown>) => ({ github: { repository: "contoso/crm", ...ref } });
    const federated = (...subjects: unknown[]) => ({ type: "federated", subjects });

    it("accepts every credential type as the issue writes them, and normalizes each", () => {
      const config = parseStackConfig(
        toRawConfig(
          withIntegrations(
            { name: "crm-sync", credential: { type: "secret", rotationDays: 30, readers: [GUID] } },
            { name: "legacy", rotationDays: 60, secretReaders: [GUID] },
            { name: "onprem-agent", credential: { type: "certificate", readers: [GUID] } },
            {
              name: "ci-bot",
              credential: federated(
                github({ environment: "prod" }),
                github({ pullRequest: true }),
                {
                  kubernetes: {
                    issuer: "https://oidc.example/t/",
                    namespace: "crm",
                    serviceAccount: "crm-sync",
                  },
                },
                { managedIdentity: { principalId: GUID.toUpperCase() } },
                { name: "custom-idp", issuer: "https://idp.example.com", subject: "svc-42" },
              ),
            },
            {
              name: "func-app",
              credential: { type: "managedIdentity", create: { resourceGroupName: "rg-x" } },
            },
            { name: "func-old", credential: { type: "managedIdentity", principalId: GUID.toUpperCase() } },
          ),
        ),
        "prod.eu",
      );
      const [secret, legacy, certificate, ci, created, existing] = config.integrations.map(
        (i) => i.credential,
      );
      assert.deepEqual(secret, {
        type: "secret",
        rotationDays: 30,
        rotationDaysKey: "credential.rotationDays",
        readers: [GUID],
      });
      assert.deepEqual(
        legacy,
        { type: "secret", rotationDays: 60, rotationDaysKey: "rotationDays", readers: [GUID] },
        "the keys of 0.1 still work, and messages name the key that was used",
      );
      assert.deepEqual(certificate, {
        type: "certificate",
        rotationDays: 90,
        rotationDaysKey: "credential.rotationDays",
        readers: [GUID],
      });
      assert.ok(ci.type === "federated");
      assert.deepEqual(
        ci.subjects.map((s) => [s.name, "issuer" in s ? s.issuer : "(tenant)", s.subject]),
        [
          [
            "github-contoso-crm-environment-prod",
            "https://token.actions.githubusercontent.com",
            "repo:contoso/crm:environment:prod",
          ],
          [
            "github-contoso-crm-pull-request",
            "https://token.actions.githubusercontent.com",
            "repo:contoso/crm:pull_request",
          ],
          [ci.subjects[2].name, "https://oidc.example/t/", "system:serviceaccount:crm:crm-sync"],
          // The managed identity's token carries its principal ID in lower case; matching is case-sensitive.
          [`managed-identity-${GUID}`, "(tenant)", GUID],
          ["custom-idp", "https://idp.example.com", "svc-42"],
        ],
      );
      assert.deepEqual(created, {
        type: "managedIdentity",
        principalId: undefined,
        create: { resourceGroupName: "rg-x" },
      });
      assert.equal(existing.type === "managedIdentity" && existing.principalId, GUID);
      assert.equal(
        config.integrations[4].displayName,
        "smartspace-func-app-prod-eu",
        "a valid identity name",
      );
    });

    it("names the credential type it expects", () => {
      assert.deepEqual(problems(withIntegrations({ name: "crm-sync", credential: { type: "password" } })), [
        `${P}.credential.type "password": use an object whose type is one of secret, certificate, federated, managedIdentity`,
      ]);
      assert.deepEqual(problems(withIntegrations({ name: "crm-sync", credential: {} })), [
        `${P}.credential.type is required: use an object whose type is one of secret, certificate, federated, managedIdentity`,
      ]);
      assert.deepEqual(
        problems(
          withIntegrations({
            name: "crm-sync",
            credential: { ...federated(github({ tag: "v1" })), subject: "x" },
          }),
        ),
        [`${P}.credential.subject "x": unknown key; expected one of type, subjects, readers`],
      );
    });

    it("takes rotationDays and readers only where they apply, and each in one place", () => {
      const cases: [unknown, string][] = [
        [
          { name: "crm-sync", rotationDays: 30, credential: { type: "secret", rotationDays: 60 } },
          `${P}.rotationDays 30: is set twice: keep credential.rotationDays and remove this one`,
        ],
        [
          { name: "crm-sync", secretReaders: [GUID], credential: { type: "certificate" } },
          `${P}.secretReaders ["${GUID}"]: applies to client secrets only; for credential type certificate set credential.readers`,
        ],
        [
          { name: "crm-sync", rotationDays: 30, credential: federated(github({ tag: "v1" })) },
          `${P}.rotationDays 30: does not apply to credential type federated; remove it`,
        ],
        [
          { name: "crm-sync", credential: { ...federated(github({ tag: "v1" })), rotationDays: 30 } },
          `${P}.credential.rotationDays 30: does not apply to federated credentials: nothing is stored, so nothing rotates; remove it`,
        ],
        [
          { name: "crm-sync", credential: { type: "managedIdentity", principalId: GUID, readers: [GUID] } },
          `${P}.credential.readers ["${GUID}"]: does not apply to a managed identity: there is no credential to store or read; remove it`,
        ],
      ];
      for (const [integration, message] of cases) {
        assert.deepEqual(problems(withIntegrations(integration)), [message]);
      }
    });

    it("validates every federated subject against what Entra ID and the issuers accept", () => {
      const found = problems(
        withIntegrations({
          name: "ci-bot",
          credential: federated(
            { github: { repository: "contoso", environment: "prod" } },
            github({ environment: "prod", branch: "main" }),
            github({}),
            github({ pullRequest: false }),
            github({ branch: "refs/heads/main" }),
            github({ branch: "feature/*" }),
            { kubernetes: { issuer: "http://oidc.example", namespace: "Crm", serviceAccount: "crm-sync" } },
            { managedIdentity: { principalId: "func-app" } },
            { name: "custom-idp", issuer: "https://idp.example.com" },
            { name: "custom-2", issuer: " https://idp.example.com", subject: "svc" },
          ),
        }),
      );
      const S = `${P}.credential.subjects`;
      const oneOf =
        "use exactly one of environment, branch, tag, pullRequest: each trusts different runs, so list them as separate subjects";
      assert.deepEqual(found, [
        `${S}[0].github.repository "contoso": use owner/repo as on GitHub, such as contoso/crm (matched exactly, case included)`,
        `${S}[1].github.branch "main": ${oneOf}`,
        `${S}[2].github {"repository":"contoso/crm"}: ${oneOf}`,
        `${S}[3].github.pullRequest false: use true (trust pull_request runs), or remove it`,
        `${S}[4].github.branch "refs/heads/main": use a branch name such as main, without refs/heads/ and without wildcards (federated credentials match exactly)`,
        `${S}[5].github.branch "feature/*": use a branch name such as main, without refs/heads/ and without wildcards (federated credentials match exactly)`,
        `${S}[6].kubernetes.issuer "http://oidc.example": use the https:// issuer URL exactly as in the tokens' iss claim, trailing slash included (at most 600 characters)`,
        `${S}[6].kubernetes.namespace "Crm": use a Kubernetes namespace name (1-63 lowercase letters, digits or '-')`,
        `${S}[7].managedIdentity.principalId "func-app": use a GUID such as 00000000-0000-0000-0000-000000000000`,
        `${S}[8].subject is required: a custom subject needs name, issuer and subject`,
        `${S}[9].issuer " https://idp.example.com": use the https:// issuer URL exactly as in the tokens' iss claim, trailing slash included (at most 600 characters)`,
      ]);
    });

    it("refuses duplicate subjects and names, and more than Entra ID's 20 per application", () => {
      const S = `${P}.credential.subjects`;
      assert.deepEqual(
        problems(
          withIntegrations({
            name: "ci-bot",
            credential: federated(
              github({ environment: "prod" }),
              {
                name: "other",
                issuer: "https://token.actions.githubusercontent.com",
                subject: "repo:contoso/crm:environment:prod",
              },
              {
                name: "github-contoso-crm-environment-prod",
                issuer: "https://idp.example.com",
                subject: "x",
              },
            ),
          }),
        ),
        [
          `${S}[1] {"name":"other","issuer":"https://token.actions.githubusercontent.com","subje...: duplicate of subjects[0]: Entra ID allows each issuer and subject once per application`,
          `${S}[2] {"name":"github-contoso-crm-environment-prod","issuer":"https://idp.example.c...: its credential name github-contoso-crm-environment-prod is already used by subjects[0]; give one of them another name`,
        ],
      );
      const many = Array.from({ length: 21 }, (_, i) => ({
        name: `idp-${i}`,
        issuer: "https://idp.example.com",
        subject: `s${i}`,
      }));
      const [tooMany] = problems(withIntegrations({ name: "ci-bot", credential: federated(...many) }));
      assert.match(
        tooMany,
        /credential\.subjects \[.*: list at most 20 subjects: Entra ID allows 20 federated credentials per application$/,
      );
      assert.deepEqual(problems(withIntegrations({ name: "ci-bot", credential: federated() })), [
        `${S} []: list at least one subject: a federated credential without subjects trusts nothing`,
      ]);
    });

    it("wants exactly one of principalId and create for a managed identity, and no application keys", () => {
      const exactlyOne =
        "set exactly one of principalId (an existing managed identity's object ID) or create (a new user-assigned identity)";
      assert.deepEqual(
        problems(withIntegrations({ name: "func-app", credential: { type: "managedIdentity" } })),
        [`${P}.credential.principalId is required: ${exactlyOne}`],
      );
      assert.deepEqual(
        problems(
          withIntegrations({
            name: "func-app",
            credential: { type: "managedIdentity", principalId: GUID, create: { resourceGroupName: "rg" } },
          }),
        ),
        [`${P}.credential.create {"resourceGroupName":"rg"}: ${exactlyOne}`],
      );
      assert.deepEqual(
        problems(
          withIntegrations({
            name: "func-app",
            owners: [GUID],
            displayName: "Function app",
            credential: { type: "managedIdentity", principalId: GUID },
          }),
        ),
        [
          `${P}.owners ["${GUID}"]: does not apply to a managed identity: there is no application to own; remove it`,
          `${P}.displayName "Function app": does not apply to an existing managed identity, which keeps its own name; remove it`,
        ],
      );
      assert.deepEqual(
        problems(
          withIntegrations({
            name: "func-app",
            displayName: "Function app",
            credential: {
              type: "managedIdentity",
              create: { resourceGroupName: "rg", region: "westeurope" },
            },
          }),
        ),
        [
          `${P}.credential.create.region "westeurope": unknown key; expected one of resourceGroupName, location`,
          `${P}.displayName "Function app": names the created managed identity: use 3-128 letters, digits, '-' or '_', starting with a letter or digit`,
        ],
      );
    });
  });

  describe("workspace keys", () => {
    it("requires adminApiUrl as soon as an integration lists workspaces", () => {
      assert.deepEqual(
        problems(
          baseConfig({
            smartspace: { appClientId: GUID },
            integrations: [{ name: "crm-sync" }, { name: "billing", workspaces: [WORKSPACE_A] }],
          }),
        ),
        [
          "smartspace-integration:smartspace.adminApiUrl is required because integrations[1] (billing) lists workspaces: set it to the Smartspace admin API base URL",
        ],
      );
    });

    it("validates adminApiScope", () => {
      assert.deepEqual(
        problems(baseConfig({ smartspace: { appClientId: GUID, adminApiScope: "smartspace" } })),
        [
          'smartspace-integration:smartspace.adminApiScope "smartspace": use an OAuth scope ending in /.default, such as api://<client id>/.default',
        ],
      );
    });
  });

  it("fails the program before any resource is declared", async () => {
    await assert.rejects(runProgram(withIntegrations({ name: "Bad Name" })), (error: unknown) => {
      // The program loads its own copy of config.ts, so compare by name rather than class identity.
      assert.ok(error instanceof Error && error.name === "ConfigError", String(error));
      assert.match(error.message, /integrations\[0\]\.name "Bad Name"/);
      assert.deepEqual((error as ConfigError & { registeredResources: unknown[] }).registeredResources, []);
      return true;
    });
  });
});
