// aibtrigger, step 1 of a first deployment (docs/deployment.md): what needs rights over the whole
// subscription, run once by a subscription Owner (`az deployment sub create`):
//   - the aibtrigger resource group;
//   - the service's user-assigned identity (modules/service-identity.bicep), so that it exists
//     before any role is granted to it;
//   - every custom role definition, the service's and the deployer's (modules/roles.bicep).
// Nothing here assigns a role: a new role definition takes minutes to replicate, and an
// assignment in the same deployment can fail with RoleDefinitionDoesNotExist. grants.bicep
// (step 2) assigns them; main.bicep (step 3) deploys the service with the deployer's rights only.
targetScope = 'subscription'

@description('The aibtrigger resource group (created here; main.bicep is deployed into it).')
param serviceResourceGroupName string

@description('Region of the resource group and the identity (main.bicep deploys there too).')
param location string

@description('Prefix of resource names: the same value as main.bicep namePrefix.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'aibtrigger'

@description('Tags put on the resource group and the identity.')
param tags object = {}

resource serviceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: serviceResourceGroupName
  location: location
  tags: tags
}

module identity 'modules/service-identity.bicep' = {
  name: take('aibtrigger-identity-${serviceResourceGroupName}', 64)
  scope: resourceGroup(serviceResourceGroupName)
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
  }
  dependsOn: [
    serviceGroup
  ]
}

module roles 'modules/roles.bicep' = {
  name: take('aibtrigger-roles-${serviceResourceGroupName}', 64)
  params: {
    serviceResourceGroupName: serviceResourceGroupName
  }
}

output identityId string = identity.outputs.id
output identityPrincipalId string = identity.outputs.principalId
output templateOperatorRoleId string = roles.outputs.templateOperatorRoleId
output serviceDeployerRoleId string = roles.outputs.serviceDeployerRoleId
output galleryEventsDeployerRoleId string = roles.outputs.galleryEventsDeployerRoleId
