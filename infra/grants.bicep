// aibtrigger, step 2 of a first deployment (docs/deployment.md), run by a subscription Owner after
// bootstrap.bicep (`az deployment sub create`), and again whenever the lists below change:
//   - the service identity's access: run and read the image templates, read the staging groups'
//     build logs, read the watched gallery, change the image versions of the galleries the
//     templates distribute to (and delete them only if `galleryVersionRetention`), list marketplace
//     image versions (custom roles of bootstrap);
//   - the deployer's rights for main.bicep (`deployerPrincipalId`, e.g. the CI identity): the
//     aibtrigger service deployer role and, limited by a condition to the built-in data roles
//     main.bicep assigns, Role Based Access Control Administrator, on the aibtrigger group; the
//     gallery events deployer role on the gallery's group. Nothing at subscription scope.
//   - optionally, Website Contributor on the aibtrigger group for an identity that only publishes
//     code (`codePublisherPrincipalId`).
// Granting the service access to a new resource group is a decision for whoever owns the
// subscription, so it is made here and not by the deployer.
targetScope = 'subscription'

@description('The aibtrigger resource group (bootstrap.bicep serviceResourceGroupName).')
param serviceResourceGroupName string

@description('Prefix of resource names: the same value as bootstrap.bicep and main.bicep namePrefix.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'aibtrigger'

@description('Resource groups (in this subscription) holding the image templates named in the catalog.')
@minLength(1)
param imageTemplateResourceGroupNames array

@description('AIB staging resource groups whose build logs the service reads. They must exist (see docs/deployment.md).')
param stagingResourceGroupNames array = []

@description('Resource group of the Azure Compute Gallery whose new image versions trigger builds.')
param galleryResourceGroupName string

@description('Name of that gallery.')
param galleryName string

@description('Galleries (in this subscription) the catalog\'s templates distribute to (`distribute[].galleryImageId`), each {resourceGroupName, galleryName}: the service changes their image versions (promotion, rollback, retirement, provenance tags). Default: the watched gallery.')
param distributionGalleries array = [
  {
    resourceGroupName: galleryResourceGroupName
    galleryName: galleryName
  }
]

@description('Let the service delete image versions in distributionGalleries: true only if a template of the catalog sets policy.retention (`aibtrigger prune`, the prune timer). false: no delete right anywhere.')
param galleryVersionRetention bool = false

@description('Grant marketplace image version listing (subscription scope; needed for PlatformImage sources).')
param grantMarketplaceRead bool = true

@description('Object id of who deploys main.bicep (the CI identity, or a person); empty: grant nothing.')
param deployerPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param deployerPrincipalType string = 'ServicePrincipal'

@description('Object id of an identity that only publishes code; empty: grant nothing.')
param codePublisherPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param codePublisherPrincipalType string = 'ServicePrincipal'

// The ids of bootstrap's custom roles (modules/roles.bicep names them the same way).
var instance = toLower(serviceResourceGroupName)
var templateOperatorRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-template-operator'))
var galleryReaderRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-gallery-reader'))
var galleryVersionEditorRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-gallery-version-editor'))
var galleryVersionPrunerRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-gallery-version-pruner'))
var galleryOperationReaderRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-gallery-operation-reader'))
var stagingLogReaderRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-staging-log-reader'))
var marketplaceReaderRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-marketplace-reader'))
var serviceDeployerRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-service-deployer'))
var galleryEventsDeployerRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', guid(subscription().id, instance, 'aibtrigger-gallery-events-deployer'))

// Built-in roles (ids are the same in every tenant).
var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var websiteContributor = 'de139f84-1756-47ae-9be6-808fbbe84772'
// The built-in roles main.bicep assigns to the service's own identities on its own resources
// (storage data, telemetry, results topic, dead letters). tests/infra keeps this list equal to them.
var serviceDataRoles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  '3913510d-42f4-4e42-8a64-420c390055eb'
  'd5a91429-5739-47e2-a06b-3470a27159e7'
]
// "Delegate role assignment management with conditions": the deployer may create and delete
// assignments of those roles only, and only to service principals (the managed identities).
var serviceDataRoleSet = join(serviceDataRoles, ', ')
var onlyServiceDataRoles = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${serviceDataRoleSet}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${serviceDataRoleSet}}))'

module serviceIdentity 'modules/service-identity-ref.bicep' = {
  name: take('aibtrigger-identity-ref-${serviceResourceGroupName}', 64)
  scope: resourceGroup(serviceResourceGroupName)
  params: {
    namePrefix: namePrefix
  }
}

// --- the service identity's access ----------------------------------------------------------------

module templateAccess 'modules/rg-role-assignment.bicep' = [for rgName in imageTemplateResourceGroupNames: {
  name: take('aibtrigger-templates-${rgName}', 64)
  scope: resourceGroup(rgName)
  params: {
    principalId: serviceIdentity.outputs.principalId
    roleDefinitionId: templateOperatorRoleId
    purpose: 'read, run and cancel the image templates of this resource group'
  }
}]

module stagingAccess 'modules/rg-role-assignment.bicep' = [for rgName in stagingResourceGroupNames: {
  name: take('aibtrigger-staging-${rgName}', 64)
  scope: resourceGroup(rgName)
  params: {
    principalId: serviceIdentity.outputs.principalId
    roleDefinitionId: stagingLogReaderRoleId
    purpose: 'read the build logs of this Image Builder staging resource group'
  }
}]

module galleryAccess 'modules/gallery-access.bicep' = {
  name: take('aibtrigger-gallery-access-${serviceResourceGroupName}', 64)
  scope: resourceGroup(galleryResourceGroupName)
  params: {
    galleryName: galleryName
    appPrincipalId: serviceIdentity.outputs.principalId
    galleryReaderRoleId: galleryReaderRoleId
  }
}

// The galleries the templates distribute to: the versions the service changes are there, and they
// need not be the watched gallery. One after the other (@batchSize(1)): galleries sharing a resource
// group share its operation-status assignment, and two deployments must not write it at once.
@batchSize(1)
module distributionAccess 'modules/gallery-versions-access.bicep' = [for target in distributionGalleries: {
  name: 'aibtrigger-gallery-versions-${uniqueString(serviceResourceGroupName, target.resourceGroupName, target.galleryName)}'
  scope: resourceGroup(target.resourceGroupName)
  params: {
    galleryName: target.galleryName
    appPrincipalId: serviceIdentity.outputs.principalId
    galleryVersionEditorRoleId: galleryVersionEditorRoleId
    galleryOperationReaderRoleId: galleryOperationReaderRoleId
    galleryVersionPrunerRoleId: galleryVersionPrunerRoleId
    prune: galleryVersionRetention
  }
}]

// The one subscription-scope assignment: marketplace images are not resources in any resource
// group; their versions are listed at /subscriptions/{id}/providers/Microsoft.Compute/locations/...
// and that path can only be authorized at subscription scope. The role holds that single read.
resource marketplaceRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantMarketplaceRead) {
  name: guid(subscription().id, instance, marketplaceReaderRoleId)
  properties: {
    roleDefinitionId: marketplaceReaderRoleId
    principalId: serviceIdentity.outputs.principalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: list marketplace image versions (the API exists only at subscription scope)'
  }
}

// --- the deployer's rights --------------------------------------------------------------------------

module serviceDeployer 'modules/rg-role-assignment.bicep' = if (!empty(deployerPrincipalId)) {
  name: take('aibtrigger-deployer-${serviceResourceGroupName}', 64)
  scope: resourceGroup(serviceResourceGroupName)
  params: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: serviceDeployerRoleId
    purpose: 'deploy infra/main.bicep into this resource group'
  }
}

module serviceRoleAssigner 'modules/rg-role-assignment.bicep' = if (!empty(deployerPrincipalId)) {
  name: take('aibtrigger-deployer-rbac-${serviceResourceGroupName}', 64)
  scope: resourceGroup(serviceResourceGroupName)
  params: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    purpose: 'grant the service identities their data roles on their own resources, nothing else'
    condition: onlyServiceDataRoles
  }
}

module galleryDeployer 'modules/rg-role-assignment.bicep' = if (!empty(deployerPrincipalId)) {
  name: take('aibtrigger-deployer-gallery-${serviceResourceGroupName}', 64)
  scope: resourceGroup(galleryResourceGroupName)
  params: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: galleryEventsDeployerRoleId
    purpose: 'deploy the gallery event system topic and subscription of aibtrigger'
  }
}

module codePublisher 'modules/rg-role-assignment.bicep' = if (!empty(codePublisherPrincipalId)) {
  name: take('aibtrigger-code-publisher-${serviceResourceGroupName}', 64)
  scope: resourceGroup(serviceResourceGroupName)
  params: {
    principalId: codePublisherPrincipalId
    principalType: codePublisherPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributor)
    purpose: 'publish the Function App code (code-only redeploys)'
  }
}
