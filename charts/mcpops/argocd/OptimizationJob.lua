-- Argo CD health of an mcpops.dev OptimizationJob
-- (resource.customizations.health.mcpops.dev_OptimizationJob).
-- Reads only status.phase, status.message, status.conditions and status.observedGeneration.
local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = obj.status.phase or "Pending"
local message = obj.status.message
if message == nil or message == "" then
  message = "phase " .. phase
end

-- The phase is final once Succeeded or Failed; the conditions say the same (Complete, Failed).
if phase == "Failed" or is_true(condition(obj.status.conditions, "Failed")) then
  hs.status = "Degraded"
  hs.message = message
  return hs
end

if phase == "Succeeded" or is_true(condition(obj.status.conditions, "Complete")) then
  hs.status = "Healthy"
  hs.message = message
  return hs
end

hs.status = "Progressing"
hs.message = phase .. ": " .. message
return hs
