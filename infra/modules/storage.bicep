// The service's own storage account: Functions host storage (identity-based AzureWebJobsStorage),
// the Flex Consumption deployment package, aibtrigger's queues, tables and copied build logs, and
// the dead-letter container of the gallery event subscription. No account key is ever used:
// shared key access is disabled, every client authenticates with Microsoft Entra ID.

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Replication of the account (main.bicep storageSkuName: LRS by default, ZRS where the region has zones).')
@allowed([
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_GRS'
  'Standard_LRS'
])
param skuName string

@description('Queues the service uses (work queues and their poison twins).')
param queueNames array

@description('Tables the service uses.')
param tableNames array

@description('Blob containers the service uses (build logs, deployment package, dead letters).')
param containerNames array

@description('Principal id of the function app identity: gets data-plane access to this account.')
param appPrincipalId string

@description('Principal id of the Event Grid identity: may write dead letters into deadLetterContainerName.')
param eventGridPrincipalId string

@description('The container (one of containerNames) that receives undeliverable gallery events.')
param deadLetterContainerName string

// Built-in roles (ids are the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

// Blob Data Owner: the Functions host keeps its keys, leases (timer and singleton locks) and
// containers in blobs and creates those containers itself; the Flex deployment package is read
// from here. Queue Data Contributor: queue triggers, poison queues, the service's own messages.
// Table Data Contributor: aibtrigger's claims/runs/outcomes and the host's diagnostic events.
// The account is dedicated to this app, so the account is the narrowest scope that still lets the
// host create what it needs at run time.
var appRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:The Function App (no VNet integration here) reaches the account over its public endpoint; shared keys are disabled, so every request needs an Entra token and a data role.
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: network access stays open for the keyless, identity-only clients (Function App, Event Grid dead-lettering); no blob is public (allowBlobPublicAccess false).
  // checkov:skip=CKV_AZURE_206:Replication comes from the skuName parameter (main.bicep storageSkuName): LRS by default because ZRS fails in regions without zones; ZRS is the documented choice where zones exist.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource appRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in appRoles: {
  name: guid(storage.id, appPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: Functions host storage and the service queues, tables and log blobs'
  }
}]

// Event Grid writes undeliverable gallery events here, with its own identity, and nowhere else.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, eventGridPrincipalId, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: Event Grid dead-letters undeliverable gallery events'
  }
  dependsOn: [
    containers
  ]
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
