// The Function App on the Flex Consumption plan (FC1, Linux, Python 3.11), running as the
// service's user-assigned identity. The runtime, memory and scale are set in functionAppConfig
// (Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME and other plan-managed app settings); the code
// package is read from a blob container with the same identity. App settings are written once, in
// siteConfig, from the `appSettings` object built in main.bicep (a test compares its keys with the
// code's settings).
//
// Flex Consumption refuses the site properties and app settings of its deprecation table (newer
// regional stamps answer `BadRequest 51021 ... for Flex Consumption sites is invalid`): no
// ftpsState, alwaysOn, linuxFxVersion, FUNCTIONS_WORKER_RUNTIME and so on. tests/infra lists them
// with their source (platform_rules.py) and fails if one appears here.

param name string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Blob endpoint of the app storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Container (in the app storage account) holding the deployment package.')
param deploymentContainerName string

@description('All app settings, built in main.bicep.')
param appSettings object

@description('Largest number of instances the app may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Python version of the Functions worker.')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy of Flex Consumption plans exists only in some regions; the work waits in storage queues through an instance or zone loss and is picked up again.
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Public endpoint needed: Event Grid pushes gallery events to on_gallery_event and clients POST /api/requests; this deployment has no VNet. Every call is authenticated (function keys, Event Grid system key) over HTTPS only.
  // checkov:skip=CKV_AZURE_17:Incoming client certificates would break Event Grid push delivery, which authenticates with the Event Grid extension key; HTTP callers use function keys.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on queue and event load; the work sits in storage queues, so no standing instance is needed for failover.
  // checkov:skip=CKV_AZURE_213:No health endpoint to probe: the functions are queue, timer and Event Grid triggered, and App Service health check only replaces instances when at least two run, which scale-to-zero does not keep.
  // checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP(S) endpoint and rejects siteConfig.ftpsState (Microsoft's Flex Consumption deprecation table; tests/infra/platform_rules.py): there is nothing to disable.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No basic (user/password) publishing to the scm endpoint: deployments authenticate with Entra ID.
// (Flex Consumption has no FTP(S) endpoint, so there is no `ftp` policy to switch off.)
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
