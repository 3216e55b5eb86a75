// One role assignment on the resource group this module is deployed into (image template and AIB
// staging resource groups: the narrowest stable scope, as templates are deleted and re-created to
// be changed and staging resources are created by AIB itself; the aibtrigger and gallery groups
// for the deployer). An optional condition (ABAC, version 2.0) narrows what the role allows.

param principalId string
param roleDefinitionId string
param purpose string

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string = 'ServicePrincipal'

@description('Role assignment condition (version 2.0); empty for none.')
param condition string = ''

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: principalType
    description: 'aibtrigger: ${purpose}'
    condition: empty(condition) ? null : condition
    conditionVersion: empty(condition) ? null : '2.0'
  }
}
