// One role assignment on the resource group this module is deployed into (image template and AIB
// staging resource groups: the narrowest stable scope, as templates are deleted and re-created to
// be changed and staging resources are created by AIB itself).

param principalId string
param roleDefinitionId string
param purpose string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: ${purpose}'
  }
}
