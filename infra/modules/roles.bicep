// The custom roles of one aibtrigger instance (docs/deployment.md explains every action):
//   - the service's, one per kind of scope, so each assignment carries only the actions used there
//     (and gallery version delete in a role of its own, assigned only to an instance that prunes);
//   - the deployer's, for `az deployment group create -f infra/main.bicep` (CI or a person).
// Deployed by bootstrap.bicep, alone: no deployment assigns a role it defines (a new definition
// takes minutes to replicate; an assignment made meanwhile fails with RoleDefinitionDoesNotExist).
// grants.bicep assigns them, all at resource or resource-group scope except the marketplace one.
// A role's name (GUID) derives from the subscription, the aibtrigger resource group and the role,
// so grants.bicep computes the same ids without an output to pass along.
targetScope = 'subscription'

@description('The aibtrigger resource group: distinguishes the roles of several instances.')
param serviceResourceGroupName string

var instance = toLower(serviceResourceGroupName)
var instanceLabel = '${serviceResourceGroupName}, ${subscription().subscriptionId}'

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

// Assigned on each gallery the catalog's templates distribute to (the resource itself,
// grants.bicep distributionGalleries): read and list its image versions and change them with PATCH,
// which ARM authorizes as write: tags (provenance, promotion state), publishingProfile
// .excludeFromLatest (promotion, rollback), .endOfLifeDate (retirement), .targetRegions (replicate
// again after a failed distribution). ARM does not tell a PATCH from a PUT, so write would also
// create a version; the service never sends a PUT. Nothing on the gallery or its image definitions.
var galleryVersionEditorActions = [
  'Microsoft.Compute/galleries/images/versions/read'
  'Microsoft.Compute/galleries/images/versions/write'
]

// Assigned with the editor only where the instance prunes (grants.bicep galleryVersionRetention):
// delete the image versions a template's policy.retention lets go. A role of its own, so that an
// instance without retention holds no delete right anywhere.
var galleryVersionPrunerActions = [
  'Microsoft.Compute/galleries/images/versions/delete'
]

// Assigned on each distribution gallery's resource group: a version's PATCH and DELETE are
// asynchronous, and their status is read at /subscriptions/{id}/providers/Microsoft.Compute/
// locations/{region}/capsOperations/{id} (Azure-AsyncOperation), not under the gallery. ARM
// authorizes tracking it at resource-group level, not at the resource's. This role holds that
// single read; ARM returns an operation's status only to the caller that started it.
var galleryOperationReaderActions = [
  'Microsoft.Compute/locations/capsOperations/read'
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

// The deployer, on the aibtrigger resource group: the nested deployments, the resource types
// main.bicep creates there (read and write only: incremental deployments never delete), attaching
// its user-assigned identities to the site and the system topic (assign/action). Microsoft.Web
// sites/* also covers publishing the code and the function keys Event Grid's AzureFunction
// destination is resolved with. Role assignments come from a separate, conditioned built-in role
// (grants.bicep), not from here.
var serviceDeployerActions = [
  'Microsoft.Resources/deployments/*'
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.ManagedIdentity/userAssignedIdentities/read'
  'Microsoft.ManagedIdentity/userAssignedIdentities/write'
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
  'Microsoft.Storage/storageAccounts/read'
  'Microsoft.Storage/storageAccounts/write'
  'Microsoft.Storage/storageAccounts/blobServices/read'
  'Microsoft.Storage/storageAccounts/blobServices/write'
  'Microsoft.Storage/storageAccounts/blobServices/containers/read'
  'Microsoft.Storage/storageAccounts/blobServices/containers/write'
  'Microsoft.Storage/storageAccounts/queueServices/read'
  'Microsoft.Storage/storageAccounts/queueServices/write'
  'Microsoft.Storage/storageAccounts/queueServices/queues/read'
  'Microsoft.Storage/storageAccounts/queueServices/queues/write'
  'Microsoft.Storage/storageAccounts/tableServices/read'
  'Microsoft.Storage/storageAccounts/tableServices/write'
  'Microsoft.Storage/storageAccounts/tableServices/tables/read'
  'Microsoft.Storage/storageAccounts/tableServices/tables/write'
  'Microsoft.OperationalInsights/workspaces/read'
  'Microsoft.OperationalInsights/workspaces/write'
  'Microsoft.Insights/components/read'
  'Microsoft.Insights/components/write'
  'Microsoft.EventGrid/topics/read'
  'Microsoft.EventGrid/topics/write'
  'Microsoft.Web/serverfarms/read'
  'Microsoft.Web/serverfarms/write'
  'Microsoft.Web/sites/*'
]

// The deployer, on the gallery's resource group: the nested deployment of modules/gallery.bicep,
// the system topic (created, or read when an existing one is reused) and its event subscriptions.
var galleryEventsDeployerActions = [
  'Microsoft.Resources/deployments/*'
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/write'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/write'
]

resource templateOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-template-operator')
  properties: {
    roleName: 'aibtrigger image template operator (${instanceLabel})'
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
  name: guid(subscription().id, instance, 'aibtrigger-gallery-reader')
  properties: {
    roleName: 'aibtrigger gallery reader (${instanceLabel})'
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

resource galleryVersionEditor 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-gallery-version-editor')
  properties: {
    roleName: 'aibtrigger gallery version editor (${instanceLabel})'
    description: 'Read gallery image versions and change them (tags, excludeFromLatest, endOfLifeDate, target regions).'
    type: 'customRole'
    permissions: [
      {
        actions: galleryVersionEditorActions
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

resource galleryVersionPruner 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-gallery-version-pruner')
  properties: {
    roleName: 'aibtrigger gallery version pruner (${instanceLabel})'
    description: 'Delete gallery image versions (retention).'
    type: 'customRole'
    permissions: [
      {
        actions: galleryVersionPrunerActions
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

resource galleryOperationReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-gallery-operation-reader')
  properties: {
    roleName: 'aibtrigger gallery operation reader (${instanceLabel})'
    description: 'Read the status of asynchronous gallery operations (a version\'s update or deletion).'
    type: 'customRole'
    permissions: [
      {
        actions: galleryOperationReaderActions
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
  name: guid(subscription().id, instance, 'aibtrigger-staging-log-reader')
  properties: {
    roleName: 'aibtrigger staging log reader (${instanceLabel})'
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
  name: guid(subscription().id, instance, 'aibtrigger-marketplace-reader')
  properties: {
    roleName: 'aibtrigger marketplace image reader (${instanceLabel})'
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

resource serviceDeployer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-service-deployer')
  properties: {
    roleName: 'aibtrigger service deployer (${instanceLabel})'
    description: 'Deploy infra/main.bicep into the aibtrigger resource group (role assignments excepted).'
    type: 'customRole'
    permissions: [
      {
        actions: serviceDeployerActions
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

resource galleryEventsDeployer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, instance, 'aibtrigger-gallery-events-deployer')
  properties: {
    roleName: 'aibtrigger gallery events deployer (${instanceLabel})'
    description: 'Deploy the gallery Event Grid system topic and event subscription of aibtrigger.'
    type: 'customRole'
    permissions: [
      {
        actions: galleryEventsDeployerActions
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

output templateOperatorRoleId string = templateOperator.id
output galleryReaderRoleId string = galleryReader.id
output galleryVersionEditorRoleId string = galleryVersionEditor.id
output galleryVersionPrunerRoleId string = galleryVersionPruner.id
output galleryOperationReaderRoleId string = galleryOperationReader.id
output stagingLogReaderRoleId string = stagingLogReader.id
output marketplaceReaderRoleId string = marketplaceReader.id
output serviceDeployerRoleId string = serviceDeployer.id
output galleryEventsDeployerRoleId string = galleryEventsDeployer.id
