// The service's custom roles, one per kind of scope, so each assignment carries only the actions
// used at that scope (docs/deployment.md explains every action). Role definitions are
// subscription-level objects; where each role is *granted* is decided by the assignments, all at
// resource or resource-group scope except the marketplace one (see below).
targetScope = 'subscription'

@description('Distinguishes the roles of several aibtrigger deployments in one tenant.')
param instanceName string

@description('Principal id of the function app identity.')
param appPrincipalId string

@description('Grant marketplace image version listing (needed when the catalog has PlatformImage sources).')
param grantMarketplaceRead bool

// Assigned on each resource group holding image templates of the catalog.
var templateOperatorActions = [
  'Microsoft.VirtualMachineImages/imageTemplates/read'
  'Microsoft.VirtualMachineImages/imageTemplates/run/action'
  'Microsoft.VirtualMachineImages/imageTemplates/cancel/action'
  'Microsoft.VirtualMachineImages/imageTemplates/runOutputs/read'
]

// Assigned on the watched gallery (the resource itself): read and list image versions.
var galleryReaderActions = [
  'Microsoft.Compute/galleries/images/versions/read'
]

// Assigned on each AIB staging resource group: find the staging storage account and its blob
// endpoint (control-plane reads; listKeys is a different action and is not granted), then read
// packerlogs/<run>/customization.log with the identity.
var stagingLogReaderActions = [
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.Resources/subscriptions/resourceGroups/resources/read'
  'Microsoft.Storage/storageAccounts/read'
]
var stagingLogReaderDataActions = [
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
]

// Assigned on the subscription: marketplace images are not resources in any resource group; their
// versions are listed at /subscriptions/{id}/providers/Microsoft.Compute/locations/... and that
// path can only be authorized at subscription scope. This role holds nothing else.
var marketplaceReaderActions = [
  'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read'
]

resource templateOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instanceName, 'aibtrigger-template-operator')
  properties: {
    roleName: 'aibtrigger image template operator (${instanceName})'
    description: 'Read, run and cancel VM Image Builder templates and read their run outputs.'
    type: 'customRole'
    permissions: [
      {
        actions: templateOperatorActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource galleryReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instanceName, 'aibtrigger-gallery-reader')
  properties: {
    roleName: 'aibtrigger gallery reader (${instanceName})'
    description: 'Read and list gallery image versions.'
    type: 'customRole'
    permissions: [
      {
        actions: galleryReaderActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource stagingLogReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instanceName, 'aibtrigger-staging-log-reader')
  properties: {
    roleName: 'aibtrigger staging log reader (${instanceName})'
    description: 'Find the storage account of an Image Builder staging resource group and read its build logs.'
    type: 'customRole'
    permissions: [
      {
        actions: stagingLogReaderActions
        notActions: []
        dataActions: stagingLogReaderDataActions
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource marketplaceReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instanceName, 'aibtrigger-marketplace-reader')
  properties: {
    roleName: 'aibtrigger marketplace image reader (${instanceName})'
    description: 'List the versions of marketplace (platform) images.'
    type: 'customRole'
    permissions: [
      {
        actions: marketplaceReaderActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

// The one subscription-scope assignment, explained above.
resource marketplaceRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantMarketplaceRead) {
  name: guid(subscription().id, appPrincipalId, marketplaceReader.id)
  properties: {
    roleDefinitionId: marketplaceReader.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: list marketplace image versions (the API exists only at subscription scope)'
  }
}

output templateOperatorRoleId string = templateOperator.id
output galleryReaderRoleId string = galleryReader.id
output stagingLogReaderRoleId string = stagingLogReader.id
output marketplaceReaderRoleId string = marketplaceReader.id
